"""The NB201 weight-sharing supernet: non-affine BN in its cells as NB201's search code; no mode state.

``forward(x, choice)`` consumes a :class:`~nasflat.spaces.mixture.Mixture` (or a plain ``{"cell": (6, 5)}``
mapping) or a discrete architecture; the mixture's fields mean what ``spaces/mixture.py`` says
(docs/methods.md#the-differentiable-harness).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn

from nasflat.spaces.base import abs_op_vector, flat_parameters
from nasflat.spaces.mixture import Mixture
from nasflat.spaces.nb201.codec import CONV1, EDGES, NONE, NUM_NODES, OPS, NB201Arch, validate_arch
from nasflat.spaces.nb201.grouped import GroupWeights, group_weights, grouped_mix, supported
from nasflat.spaces.nb201.network import OP_FACTORIES, _Skeleton
from nasflat.spaces.ops import channel_shuffle
from nasflat.spaces.widen import Recipe, check_widen, widen_ops

# ABS's chains through an NB201 cell (node 0 to the output node 3); see evaluators/angle.py
CHAINS: tuple[tuple[int, ...], ...] = ((0, 1, 2, 3), (0, 1, 3), (0, 2, 3), (0, 3))
# how a mixture forward runs the cells: "grouped" (spaces/nb201/grouped.py, the same maths in fewer kernels) or
# "per_op" (every op of every edge on its own, as the reference code); single paths are unaffected
Kernel = Literal["grouped", "per_op"]
KERNELS: tuple[str, ...] = get_args(Kernel)


@dataclass(frozen=True)
class _Plan:
    """One forward's mixture, unpacked once for all cells: 0-dim weight views and python op indices."""

    weights: torch.Tensor  # (6, 5)
    rows: list[tuple[torch.Tensor, ...]]  # rows[e][k] = weights[e, k]
    hard: list[tuple[int, torch.Tensor]] | None  # GDAS: per edge (the op that runs, sum of the other weights)
    edge: tuple[torch.Tensor, ...] | None  # edge weights (PC-DARTS's edge normalization)
    aux_skip: float


class SearchCell(nn.Module):
    """All five ops on every edge; ``edges[e][k]`` is op k of edge e (``none`` is never computed: it adds 0).

    ``partial_channels=K`` builds the ops for ``c // K`` channels: PC-DARTS's partial channel connection.
    """

    def __init__(self, c: int, affine: bool = False, track: bool = True, partial_channels: int = 1) -> None:
        super().__init__()
        self.c, self.partial_channels = c, partial_channels
        c_op = c // partial_channels
        self.edges = nn.ModuleList(
            nn.ModuleList(OP_FACTORIES[name](c_op, affine, track) for name in OPS) for _ in EDGES
        )

    def _ops_out(self, e: int, x: torch.Tensor, plan: _Plan) -> torch.Tensor:
        """Edge e's weighted ops on ``x``: the full sum, or GDAS's single op plus the other weights as scalars."""
        ops, w = self.edges[e], plan.rows[e]
        if plan.hard is None:
            out = w[1] * ops[1](x)
            for k in range(2, len(OPS)):  # k=0 is `none`: w * 0 contributes nothing, also to d/dw
                out = out + w[k] * ops[k](x)
            return out
        i, rest = plan.hard[e]  # rest: 0 in value for one-hot weights; it carries their gradient
        if i == NONE:  # w[i] * 0: no value and no gradient, but the edge keeps x's shape
            return torch.zeros_like(x) + rest
        return w[i] * ops[i](x) + rest

    def _edge(self, e: int, x: torch.Tensor, cell_input: torch.Tensor, plan: _Plan) -> torch.Tensor:
        """Edge e's output: partial channels (ops on the first C/K, the rest passed, shuffled), DARTS-'s
        auxiliary skip, then the edge weight (on the whole output, as DARTS's MixedEdge)."""
        k = self.partial_channels
        if k == 1:
            out = self._ops_out(e, x, plan)
        else:
            c = x.shape[1] // k
            out = channel_shuffle(torch.cat([self._ops_out(e, x[:, :c], plan), x[:, c:]], dim=1), k)
        if plan.aux_skip:  # as in A²M's NB201 code the skip carries the *cell input*, not the edge's source
            out = out + plan.aux_skip * cell_input
        return out if plan.edge is None else plan.edge[e] * out

    def mix(self, x: torch.Tensor, plan: _Plan) -> torch.Tensor:
        """The relaxed cell: node i = sum of its incoming edges' outputs."""
        nodes = [x]
        for i in range(1, NUM_NODES):
            out = None
            for e, (t, j) in enumerate(EDGES):
                if t == i:
                    y = self._edge(e, nodes[j], x, plan)
                    out = y if out is None else out + y
            nodes.append(out)
        return nodes[-1]

    def path(self, x: torch.Tensor, arch: Sequence[int]) -> torch.Tensor:
        """Single path: only the chosen op of each edge runs."""
        nodes = [x]
        for i in range(1, NUM_NODES):
            terms = [self.edges[e][arch[e]](nodes[j]) for e, (t, j) in enumerate(EDGES) if t == i and arch[e] != NONE]
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return nodes[-1]


class NB201SuperNet(_Skeleton):
    """One weight-sharing network; ``forward(x, choice)`` with choice = a Mixture, ``{"cell": (6, 5) weights}``
    or an arch.

    With weights every cell computes the same mixture (weights shared by all 15 cells, parameters not); with an
    arch only the chosen op per edge runs. ``partial_channels=K`` (PC-DARTS) runs the ops of every edge on 1/K of
    the channels (mixtures only). ``kernel`` picks how mixtures run (``Kernel``); the grouped kernel serves plain,
    edge-weighted and DARTS- mixtures and leaves GDAS's hard paths, partial channels, cross-rank BN and hooked op
    modules to the per-op code. No mode state lives on the module.
    """

    def __init__(
        self,
        num_classes: int,
        C: int = 16,
        N: int = 5,
        affine: bool = False,
        track_running_stats: bool = True,
        aux_skip: bool = False,
        partial_channels: int = 1,
        kernel: Kernel = "grouped",
    ) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}: expected one of {', '.join(KERNELS)}")
        if isinstance(partial_channels, bool) or not isinstance(partial_channels, int) or partial_channels < 1:
            raise ValueError(f"partial_channels={partial_channels!r}: expected an integer >= 1 (1 = all channels)")
        if C % partial_channels:
            raise ValueError(f"partial_channels={partial_channels} must divide the supernet width C={C}")
        super().__init__(num_classes, C, N, lambda c: SearchCell(c, affine, track_running_stats, partial_channels))
        self.aux_skip = aux_skip  # DARTS-: the skip is an identity here, so it adds no modules
        self.C, self.partial_channels, self.kernel = C, partial_channels, kernel

    def widen(self, partial_channels: int, generator: torch.Generator) -> dict[nn.Parameter, Recipe]:
        """Rebuild every edge's ops in place for C/``partial_channels`` channels, keeping the learned weights
        (DrNAS's progressive learning, spaces/widen.py); returns each new parameter's growth recipe."""
        check_widen(self.C, self.partial_channels, partial_channels)
        recipes: dict[nn.Parameter, Recipe] = {}
        for cell in self.cells:
            if isinstance(cell, SearchCell):
                ops = (op for edge in cell.edges for op in edge)
                recipes.update(widen_ops(ops, cell.c // partial_channels, generator))
                cell.partial_channels = partial_channels
        self.partial_channels = partial_channels
        return recipes

    def forward(self, x: torch.Tensor, choice: Any, aux_skip: float = 0.0) -> torch.Tensor:
        """``choice``: a Mixture, ``{"cell": (6, 5)}`` weights, or an arch (single path). ``aux_skip``: weight of
        DARTS-'s auxiliary skip (mixture only; needs ``aux_skip=True`` at build); a Mixture's own ``aux_skip`` adds
        to it."""
        if isinstance(choice, Mixture | Mapping):
            plan, arch = self._plan(Mixture.of(choice), aux_skip), None
        else:
            if aux_skip:
                raise ValueError("DARTS-'s auxiliary skip applies to the mixture only, not to a single path")
            self._check_single_path()
            plan, arch = None, validate_arch(choice)
        groups = self._groups(plan)
        x = self.stem(x)  # (B, C, H, W)
        for cell in self.cells:
            if not isinstance(cell, SearchCell):
                x = cell(x)  # residual reduction block
            elif plan is None:
                x = cell.path(x, arch)
            elif groups is not None and supported(cell.edges):
                x = grouped_mix(cell.edges, x, groups)
            else:
                x = cell.mix(x, plan)
        return self.head(x)

    def _groups(self, plan: _Plan | None) -> list[GroupWeights] | None:
        """The grouped kernel's per-source weights, or None where the per-op code runs the mixture."""
        if plan is None or self.kernel != "grouped" or plan.hard is not None or self.partial_channels != 1:
            return None
        edge = None if plan.edge is None else torch.stack(plan.edge)
        return group_weights(plan.weights, edge, plan.aux_skip)

    def _plan(self, mixture: Mixture, aux_skip: float) -> _Plan:
        """Check the mixture's shapes and unbind it once (30 0-dim views serve all 15 cells)."""
        aux_skip = float(aux_skip) + float(mixture.aux_skip)
        if aux_skip and not self.aux_skip:
            raise ValueError("an auxiliary skip weight > 0 needs a supernet built with aux_skip=True (DARTS-)")
        w = _field(mixture.weights, "weights", (len(EDGES), len(OPS)))
        hard = edge = None
        if mixture.index is not None:
            idx = _field(mixture.index, "index", (len(EDGES),))
            chosen = [int(i) for i in idx.tolist()]
            if idx.is_floating_point() or any(not 0 <= i < len(OPS) for i in chosen):
                raise ValueError(f"Mixture.index['cell'] must hold integer op indices in 0..{len(OPS) - 1}, got {idx}")
            mask = torch.zeros(w.shape, dtype=torch.bool, device=w.device)
            mask[range(len(EDGES)), chosen] = True
            hard = list(zip(chosen, w.masked_fill(mask, 0.0).sum(1).unbind(0)))  # per edge: (i, sum_{k != i} w)
        if mixture.edge_weights is not None:
            edge = _field(mixture.edge_weights, "edge_weights", (len(EDGES),)).unbind(0)
        return _Plan(w, [row.unbind(0) for row in w.unbind(0)], hard, edge, aux_skip)

    def _check_single_path(self) -> None:
        if self.partial_channels != 1:
            raise ValueError(
                f"a supernet built with partial_channels={self.partial_channels} runs mixtures only; build one with "
                "partial_channels=1 for single-path forwards or weight inheritance"
            )

    def subnet_state_dict(self, arch: NB201Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        """The supernet's weights for ``arch`` under ``NB201Network``'s parameter names (to inherit weights)."""
        self._check_single_path()
        arch = validate_arch(arch)
        out = {}
        for name, value in self.state_dict().items():
            parts = name.split(".")
            if len(parts) > 4 and parts[0] == "cells" and parts[2] == "edges":  # cells.<c>.edges.<e>.<k>.<rest>
                if int(parts[4]) != arch[int(parts[3])]:
                    continue
                name = ".".join(parts[:4] + parts[5:])
            out[name] = value
        return out

    def path_parameters(self, arch: NB201Arch | Sequence[int]) -> list[torch.Tensor]:
        """ABS's weight vector of ``arch``'s path, in pieces (docs/methods.md#angle).

        Per cell, each chain of ``CHAINS`` whose edges are all non-``none`` contributes its edges' vectors (an
        edge once per chain through it; pooling: a (C, 3, 3) kernel of 1/9, identity: eye(C)); then the stem,
        the residual blocks, the last BN and the classifier weight. Detached, on the supernet's device.
        """
        arch = validate_arch(arch)
        like = next(self.parameters())
        edge = {e: k for k, e in enumerate(EDGES)}  # (target, source) -> edge index
        cells, extra = [], flat_parameters(self.stem)
        for cell in self.cells:
            if not isinstance(cell, SearchCell):
                extra += flat_parameters(cell)  # residual reduction block
                continue
            channels = cell.edges[0][CONV1][1].in_channels
            for chain in CHAINS:
                edges = [edge[(b, a)] for a, b in itertools.pairwise(chain)]
                if all(arch[e] != NONE for e in edges):
                    cells += [abs_op_vector(cell.edges[e][arch[e]], channels, like) for e in edges]
        extra += flat_parameters(self.lastact)
        extra.append(self.classifier.weight.detach().reshape(-1))
        return cells + extra


def _field(value: Mapping[str, torch.Tensor], name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """``value["cell"]``, checked against the NB201 shape."""
    if "cell" not in value:
        raise ValueError(f"Mixture.{name} for the NB201 supernet needs the key 'cell', got {sorted(value)}")
    t = value["cell"]
    if tuple(t.shape) != shape:
        raise ValueError(f"NB201 supernet {name} must be {{'cell': {shape}}}, got {tuple(t.shape)}")
    return t
