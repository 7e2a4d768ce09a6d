"""The DARTS cell space's weight-sharing supernet (quark0's search ``Network``); no mode state.

``forward(x, choice)`` takes either
- a :class:`~nasflat.spaces.mixture.Mixture`, or a plain ``{"normal": (14, K), "reduce": (14, K)}`` mapping (the
  same as ``Mixture(weights=...)``): every edge mixes its ops as ``spaces/mixture.py`` defines (DARTS's MixedOp
  ``sum_k w[e, k] * op_k(x)``, GDAS's hard path with ``index``, PC-DARTS's ``edge_weights``, DARTS-'s ``aux_skip``);
  the caller applies softmax or whatever relaxation it uses; or
- a discrete architecture: a ``Genotype``, or the dense SPOS candidate form (GeNAS's 28 ints, or
  ``{"normal": 14 ints, "reduce": 14 ints}``; op index into the 8-op DARTS list, 0 = no edge, for every op set):
  only the chosen ops on the chosen edges run (single path).

Op index k on edge e is the k-th op the op set offers there (``OpSet.ops_of``; per edge for RobustDARTS's S1).
``affine=False`` is the DARTS search network (BN without affine parameters, pooling followed by BN); ``affine=True``
is the SPOS/GeNAS supernet. ``partial_channels=K`` is PC-DARTS's partial channel connection: each edge's ops see the
first C/K channels, the rest bypass them (max-pooled on stride-2 edges), and the two parts are channel-shuffled.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from nasflat.spaces.base import ArchFormatError, abs_op_vector, flat_parameters
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.darts.codec import (
    CELLS,
    DARTS8_OPS,
    FULL_CONCAT,
    NODE_OFFSETS,
    NUM_EDGES,
    NUM_NODES,
    Genotype,
)
from nasflat.spaces.darts.network import OPS, preprocess
from nasflat.spaces.darts.op_sets import OpSet, get_op_set
from nasflat.spaces.mixture import Mixture
from nasflat.spaces.ops import FactorizedReduce, Identity, bn, channel_shuffle
from nasflat.spaces.widen import Recipe, check_widen, widen_ops

# A single path per cell: for each intermediate node, the (input, op index into the edge's op list) pairs it sums.
Path = tuple[tuple[tuple[int, int], ...], ...]


class CellMix(NamedTuple):
    """One cell type's mixture, unbound into 0-dim views once per forward and shared by all cells of that type."""

    rows: tuple[tuple[torch.Tensor, ...], ...]  # rows[e][k] = weights[e, k]
    hard: tuple[tuple[int, torch.Tensor], ...] | None  # GDAS: per edge (the op that runs, sum of the other weights)
    edge: tuple[torch.Tensor, ...] | None  # per-edge output scale (PC-DARTS's edge normalization)


def search_op(name: str, c: int, stride: int, affine: bool) -> nn.Module:
    """A candidate op of the search cell; pooling gets a BN so its scale matches the BN'd conv ops."""
    op = OPS[name](c, stride, affine)
    return nn.Sequential(op, bn(c, affine)) if "pool" in name else op


class MixedEdge(nn.Module):
    """All candidate ops of one edge, plus DARTS-'s auxiliary skip when built with ``aux_skip``.

    With ``partial_channels=K`` the ops are built for ``c // K`` channels (PC-DARTS).
    """

    def __init__(
        self,
        op_names: Sequence[str],
        c: int,
        stride: int,
        affine: bool,
        aux_skip: bool = False,
        partial_channels: int = 1,
    ) -> None:
        super().__init__()
        self.k = partial_channels
        self.ops = nn.ModuleList(search_op(name, c // partial_channels, stride, affine) for name in op_names)
        if partial_channels > 1:  # the bypassed channels follow the ops' stride
            self.bypass = nn.MaxPool2d(2, 2) if stride == 2 else Identity()
        if aux_skip:  # A²M's DARTS-: identity, or a non-affine FactorizedReduce on stride-2 edges
            self.aux = FactorizedReduce(c, c, affine=False) if stride == 2 else Identity()

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor | Sequence[torch.Tensor],
        aux_skip: float = 0.0,
        hard: tuple[int, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``w``: the K op weights; ``hard=(i, rest)``: only op i runs, ``w[i] * op_i(x) + rest`` (GDAS)."""
        part = x if self.k == 1 else x[:, : x.shape[1] // self.k]
        if hard is None:
            out = sum(w[k] * op(part) for k, op in enumerate(self.ops))
        else:
            out = w[hard[0]] * self.ops[hard[0]](part) + hard[1]
        if self.k > 1:
            out = channel_shuffle(torch.cat([out, self.bypass(x[:, x.shape[1] // self.k :])], dim=1), self.k)
        return out + aux_skip * self.aux(x) if aux_skip else out


class SearchCell(nn.Module):
    """Two preprocessed inputs, four nodes, 14 mixed edges; output = concat of all four nodes."""

    def __init__(
        self,
        op_names: Sequence[str] | dg.EdgeOps,
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        affine: bool,
        aux_skip: bool = False,
        partial_channels: int = 1,
    ) -> None:
        super().__init__()
        self.reduction, self.c = reduction, c
        self.preprocess0, self.preprocess1 = preprocess(c_prev_prev, c_prev, c, reduction_prev, affine)
        edge_ops, k = dg.per_edge(op_names), partial_channels
        self.edges = nn.ModuleList(
            MixedEdge(edge_ops[dg.edge_index(node, j)], c, 2 if reduction and j < 2 else 1, affine, aux_skip, k)
            for node in range(2, 2 + NUM_NODES)
            for j in range(node)
        )

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, choice: CellMix | torch.Tensor | Path, aux_skip: float = 0.0
    ) -> torch.Tensor:
        """``choice``: this cell type's mixture (a CellMix, or plain (14, K) weights) or a single path."""
        if isinstance(choice, torch.Tensor):
            choice = CellMix(tuple(row.unbind(0) for row in choice.unbind(0)), None, None)
        states = [self.preprocess0(s0), self.preprocess1(s1)]  # (B, C, H, W) each
        for n in range(NUM_NODES):
            offset = NODE_OFFSETS[n]
            if isinstance(choice, CellMix):
                terms = [self._mixed(offset + j, h, choice, aux_skip) for j, h in enumerate(states)]
            else:
                terms = [self.edges[offset + j].ops[k](states[j]) for j, k in choice[n]]
            states.append(sum(terms) if terms else self._zeros(states[1]))
        return torch.cat(states[2:], dim=1)  # (B, 4C, H', W')

    def _mixed(self, e: int, h: torch.Tensor, mix: CellMix, aux_skip: float) -> torch.Tensor:
        out = self.edges[e](h, mix.rows[e], aux_skip, None if mix.hard is None else mix.hard[e])
        return out if mix.edge is None else mix.edge[e] * out

    def _zeros(self, s: torch.Tensor) -> torch.Tensor:
        """Output of a node without inputs (possible only in a dense SPOS candidate)."""
        return s[:, :, ::2, ::2].mul(0.0) if self.reduction else s.mul(0.0)


class DartsSupernet(nn.Module):
    """The DARTS search network (stem, ``layers`` cells with reductions at 1/3 and 2/3, pooling, classifier)."""

    def __init__(
        self,
        num_classes: int = 10,
        C: int = 16,
        layers: int = 8,
        stem_multiplier: int = 3,
        op_set: str | OpSet = "darts8",
        affine: bool = False,
        aux_skip: bool = False,
        partial_channels: int = 1,
    ) -> None:
        super().__init__()
        if isinstance(partial_channels, bool) or not isinstance(partial_channels, int) or partial_channels < 1:
            raise ValueError(f"partial_channels={partial_channels!r}: expected an integer >= 1 (1 = all channels)")
        if C % partial_channels:
            raise ValueError(
                f"partial_channels={partial_channels} must divide the supernet width C={C} (the ops see C/K channels)"
            )
        self.edge_ops = op_set if isinstance(op_set, OpSet) else get_op_set(op_set)
        self.op_set, self.affine, self.layers = self.edge_ops.name, affine, layers
        self.aux_skip, self.partial_channels, self.C = aux_skip, partial_channels, C
        c_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), bn(c_stem))
        c_prev_prev, c_prev, c = c_stem, c_stem, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2
            ops = self.edge_ops.edges("reduce" if reduction else "normal")
            self.cells.append(
                SearchCell(ops, c_prev_prev, c_prev, c, reduction, reduction_prev, affine, aux_skip, partial_channels)
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, NUM_NODES * c
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return {cell: (NUM_EDGES, self.edge_ops.num_ops) for cell in CELLS}

    def widen(self, partial_channels: int, generator: torch.Generator) -> dict[nn.Parameter, Recipe]:
        """Rebuild every mixed edge's ops in place for C/``partial_channels`` channels, keeping the learned weights
        (DrNAS's progressive learning, spaces/widen.py); returns each new parameter's growth recipe."""
        check_widen(self.C, self.partial_channels, partial_channels)
        recipes: dict[nn.Parameter, Recipe] = {}
        for cell in self.cells:
            for edge in cell.edges:
                recipes.update(widen_ops(edge.ops, cell.c // partial_channels, generator))
                edge.k = partial_channels  # the bypass module exists: widening starts from K > 1
        self.partial_channels = partial_channels
        return recipes

    def forward(self, x: torch.Tensor, choice: Any, aux_skip: float = 0.0) -> torch.Tensor:
        """``aux_skip``: weight of DARTS-'s auxiliary skip on every edge (mixture only; build with aux_skip=True);
        a Mixture's own ``aux_skip`` adds to it."""
        if isinstance(choice, Mixture):
            aux_skip = float(aux_skip) + float(choice.aux_skip)
        plan = self.plan(choice)
        mixture = isinstance(plan["normal"], CellMix)
        if aux_skip:
            if not self.aux_skip:
                raise ValueError("an auxiliary skip weight > 0 needs a supernet built with aux_skip=True (DARTS-)")
            if not mixture:
                raise ValueError("DARTS-'s auxiliary skip applies to the mixture only, not to a single path")
        if not mixture and self.partial_channels != 1:
            raise ValueError(
                f"a supernet built with partial_channels={self.partial_channels} runs mixtures only (its ops see "
                "C/K channels); build one with partial_channels=1 for single-path forwards"
            )
        s0 = s1 = self.stem(x)  # (B, 3C, H, W)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, plan["reduce" if cell.reduction else "normal"], aux_skip)
        return self.classifier(self.global_pooling(s1).flatten(1))  # (B, num_classes)

    # ---- what to run ----------------------------------------------------------------------------------------------
    def plan(self, choice: Any) -> dict[str, CellMix | Path]:
        """Per cell type: its mixture (unbound once for every cell) or a single path."""
        if isinstance(choice, Mixture):
            return self._mixture_plan(choice)
        if isinstance(choice, Genotype):
            if choice.normal_concat != FULL_CONCAT or choice.reduce_concat != FULL_CONCAT:
                raise ArchFormatError(
                    "supernet cells concatenate all four nodes; the genotype's concat must be [2, 3, 4, 5], got "
                    f"normal_concat={list(choice.normal_concat)}, reduce_concat={list(choice.reduce_concat)}"
                )
            return {cell: self._genotype_path(cell, choice.cell(cell)) for cell in CELLS}
        if isinstance(choice, Mapping):
            missing = [c for c in CELLS if c not in choice]
            if missing:
                raise ValueError(f"choice mapping lacks {missing}; expected keys {list(CELLS)}")
            return {cell: self._cell_plan(cell, choice[cell]) for cell in CELLS}
        if isinstance(choice, (Sequence, np.ndarray, torch.Tensor)) and not isinstance(choice, str):
            code = [int(v) for v in (choice.reshape(-1).tolist() if hasattr(choice, "reshape") else choice)]
            if len(code) == 2 * NUM_EDGES:
                return {
                    "normal": self._dense_path("normal", code[:14]),
                    "reduce": self._dense_path("reduce", code[14:]),
                }
        raise TypeError(
            "choice must be a Mixture, {'normal': (14, K) weights, 'reduce': (14, K) weights}, a Genotype, or a dense "
            f"SPOS candidate (28 ints or {{'normal': 14 ints, 'reduce': 14 ints}}); got {type(choice).__name__}"
        )

    def _mixture_plan(self, m: Mixture) -> dict[str, CellMix]:
        for field in ("weights", "index", "edge_weights"):
            value = getattr(m, field)
            missing = [] if value is None else [c for c in CELLS if c not in value]
            if missing:
                raise ValueError(f"Mixture.{field} lacks {missing}; expected keys {list(CELLS)}")
        return {
            cell: self._cell_mix(
                cell,
                m.weights[cell],
                None if m.index is None else m.index[cell],
                None if m.edge_weights is None else m.edge_weights[cell],
            )
            for cell in CELLS
        }

    def _cell_mix(
        self, cell: str, w: Any, index: torch.Tensor | None = None, edge: torch.Tensor | None = None
    ) -> CellMix:
        """Check one cell type's mixture fields and unbind them into 0-dim views."""
        k = self.edge_ops.num_ops
        if not isinstance(w, torch.Tensor) or not w.is_floating_point() or w.shape != (NUM_EDGES, k):
            got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"{cell} weights must have shape (14, {k}) for op_set {self.op_set!r}, got {got}")
        hard = None
        if index is not None:
            if not isinstance(index, torch.Tensor) or index.is_floating_point() or index.shape != (NUM_EDGES,):
                got = tuple(index.shape) if isinstance(index, torch.Tensor) else type(index).__name__
                raise ValueError(f"Mixture.index[{cell!r}] must be a (14,) integer tensor, got {got}")
            chosen = [int(i) for i in index.tolist()]
            if any(not 0 <= i < k for i in chosen):
                raise ValueError(f"Mixture.index[{cell!r}] must hold op indices in 0..{k - 1}, got {chosen}")
            mask = torch.zeros(w.shape, dtype=torch.bool, device=w.device)
            mask[range(NUM_EDGES), chosen] = True
            rest = w.masked_fill(mask, 0.0).sum(1)  # (14,): the unchosen weights (0 in value for straight-through)
            hard = tuple(zip(chosen, rest.unbind(0)))
        if edge is not None:
            if not isinstance(edge, torch.Tensor) or edge.shape != (NUM_EDGES,):
                got = tuple(edge.shape) if isinstance(edge, torch.Tensor) else type(edge).__name__
                raise ValueError(f"Mixture.edge_weights[{cell!r}] must be a (14,) tensor, got {got}")
            edge = edge.unbind(0)
        return CellMix(tuple(row.unbind(0) for row in w.unbind(0)), hard, edge)

    def _cell_plan(self, cell: str, value: Any) -> CellMix | Path:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return self._cell_mix(cell, value)
        values = value.tolist() if hasattr(value, "tolist") else list(value)
        return self._dense_path(cell, values)

    def _genotype_path(self, cell: str, pairs: dg.Cell) -> Path:
        index = self.edge_ops.index  # refuses an op the edge does not offer
        return tuple(
            tuple((j, index(cell, dg.edge_index(2 + n, j), op)) for op, j in pairs[2 * n : 2 * n + 2])
            for n in range(NUM_NODES)
        )

    def _dense_path(self, cell: str, ops14: Sequence[int]) -> Path:
        if len(ops14) != NUM_EDGES or any(not 0 <= int(v) < len(DARTS8_OPS) for v in ops14):
            raise ArchFormatError(f"{cell}: a dense candidate needs 14 op indices in 0..7 (0 = no edge), got {ops14}")
        index = self.edge_ops.index  # the 8-op index names the op; its position on the edge is the op set's
        return tuple(
            tuple((j, index(cell, off + j, DARTS8_OPS[int(ops14[off + j])])) for j in range(n + 2) if ops14[off + j])
            for n, off in enumerate(NODE_OFFSETS)
        )

    # ---- ABS's path vector (the angle evaluator) ------------------------------------------------------------------
    @staticmethod
    def abs_chains() -> list[tuple[int, ...]]:
        """ABS's 30 chains of a DARTS cell: input 0 or 1, then any increasing non-empty set of nodes 2..5."""
        nodes = range(2, 2 + NUM_NODES)
        return [(i, *c) for i in (0, 1) for k in range(1, NUM_NODES + 1) for c in itertools.combinations(nodes, k)]

    def path_parameters(self, arch: Any) -> list[torch.Tensor]:
        """ABS's weight vector of ``arch``'s path, in pieces (docs/methods.md#angle; detached).

        Per cell, each of ``abs_chains()`` whose edges are all chosen contributes its ops' vectors (an edge once per
        chain through it; pooling: a (C, 3, 3) kernel of 1/9 before its BN, identity: eye(C)); then the stem, every
        cell's preprocessing and the classifier weight.
        """
        plan = self.plan(arch)
        if any(isinstance(p, CellMix) for p in plan.values()):
            raise ValueError("path_parameters needs an architecture (a single path), not op weights")
        like = next(self.parameters())
        cells, extra = [], flat_parameters(self.stem)
        for cell in self.cells:
            pairs = enumerate(plan["reduce" if cell.reduction else "normal"])
            chosen = {NODE_OFFSETS[n] + j: k for n, node in pairs for j, k in node}  # edge -> op index
            for chain in self.abs_chains():
                edges = [NODE_OFFSETS[b - 2] + a for a, b in itertools.pairwise(chain)]
                if all(e in chosen for e in edges):
                    cells += [abs_op_vector(cell.edges[e].ops[chosen[e]], cell.c, like) for e in edges]
            extra += flat_parameters(cell.preprocess0) + flat_parameters(cell.preprocess1)
        extra.append(self.classifier.weight.detach().reshape(-1))
        return cells + extra
