"""The NB201 weight-sharing supernet: non-affine BN in its cells as NB201's search code; no mode state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from nasflat.spaces.base import Weights
from nasflat.spaces.nb201.codec import EDGES, NONE, NUM_NODES, OPS, NB201Arch, validate_arch
from nasflat.spaces.nb201.network import OP_FACTORIES, _Skeleton


class SearchCell(nn.Module):
    """All five ops on every edge; ``edges[e][k]`` is op k of edge e (``none`` is never computed: it adds 0)."""

    def __init__(self, c: int, affine: bool = False, track: bool = True) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(OP_FACTORIES[name](c, affine, track) for name in OPS) for _ in EDGES)

    def mix(self, x: torch.Tensor, w: Sequence[Sequence[torch.Tensor]], aux_skip: float = 0.0) -> torch.Tensor:
        """Mixture; ``w[e][k]`` are 0-dim weights (w rows unbound once per forward, not per cell).

        ``aux_skip`` > 0 adds DARTS-'s auxiliary skip ``aux_skip * x`` to every edge; as in A²M's NB201 code the
        skip carries the *cell input*, not the edge's source node.
        """
        nodes = [x]
        for i in range(1, NUM_NODES):
            out = None
            for e, (t, j) in enumerate(EDGES):
                if t != i:
                    continue
                ops = self.edges[e]
                for k in range(1, len(OPS)):  # k=0 is `none`: w * 0 contributes nothing, also to d/dw
                    y = w[e][k] * ops[k](nodes[j])
                    out = y if out is None else out + y
                if aux_skip:
                    out = out + aux_skip * x
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
    """One weight-sharing network; ``forward(x, choice)`` with choice = ``{"cell": (6, 5) weights}`` or an arch.

    With weights every cell computes the same exact mixture sum_k w[e, k] op_k(x) (weights shared by all 15
    cells, parameters not); with an arch only the chosen op per edge runs. No mode state lives on the module.
    """

    def __init__(
        self,
        num_classes: int,
        C: int = 16,
        N: int = 5,
        affine: bool = False,
        track_running_stats: bool = True,
        aux_skip: bool = False,
    ) -> None:
        super().__init__(num_classes, C, N, lambda c: SearchCell(c, affine, track_running_stats))
        self.aux_skip = aux_skip  # DARTS-: the skip is an identity here, so it adds no modules

    def forward(
        self, x: torch.Tensor, choice: Weights | NB201Arch | Sequence[int], aux_skip: float = 0.0
    ) -> torch.Tensor:
        """``aux_skip``: weight of DARTS-'s auxiliary skip (mixture only; needs ``aux_skip=True`` at build)."""
        if aux_skip and not self.aux_skip:
            raise ValueError("forward(..., aux_skip>0) needs a supernet built with aux_skip=True (DARTS-)")
        rows, arch = None, None
        if isinstance(choice, Mapping):
            w = choice["cell"]
            if tuple(w.shape) != (len(EDGES), len(OPS)):
                shape = f"{{'cell': ({len(EDGES)}, {len(OPS)})}}"
                raise ValueError(f"NB201 supernet weights must be {shape}, got {tuple(w.shape)}")
            rows = [row.unbind(0) for row in w.unbind(0)]  # 30 0-dim views, made once for all 15 cells
        else:
            if aux_skip:
                raise ValueError("DARTS-'s auxiliary skip applies to the mixture only, not to a single path")
            arch = validate_arch(choice)
        x = self.stem(x)  # (B, C, H, W)
        for cell in self.cells:
            if not isinstance(cell, SearchCell):
                x = cell(x)  # residual reduction block
            elif rows is not None:
                x = cell.mix(x, rows, aux_skip)
            else:
                x = cell.path(x, arch)
        return self.head(x)

    def subnet_state_dict(self, arch: NB201Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        """The supernet's weights for ``arch`` under ``NB201Network``'s parameter names (to inherit weights)."""
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
