"""The toy cell's networks: a weight-sharing supernet (relaxed mixtures or one path) and the standalone network.

Cell: node 0 is the cell input, node 1 = op_a(node 0), node 2 = op_b(node 0) + op_c(node 1) is the output; every
edge picks one of ``OPS``. Both networks are stem (conv 3x3 + BN) -> ``N`` cells of ``C`` channels -> BN + ReLU ->
global average pool -> linear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nasflat.spaces.base import abs_op_vector, flat_parameters
from nasflat.spaces.mixture import Mixture
from nasflat.spaces.ops import Identity, ReLUConvBN, Zero, bn

OPS: tuple[str, ...] = ("none", "skip", "conv3x3")
NONE = 0
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2))  # (source, target); node 2 is the cell output
OP_FACTORIES: dict[str, Callable[[int, bool, bool], nn.Module]] = {
    "none": lambda c, affine, track: Zero(1),
    "skip": lambda c, affine, track: Identity(),
    "conv3x3": lambda c, affine, track: ReLUConvBN(c, c, 3, 1, 1, affine=affine, track=track),
}


class _Skeleton(nn.Module):
    """Stem, ``n`` cells of ``c`` channels, BN + ReLU, pool, linear (shared by the supernet and the network)."""

    def __init__(self, num_classes: int, c: int, n: int, make_cell: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), bn(c))
        self.cells = nn.ModuleList(make_cell() for _ in range(n))
        self.lastact = nn.Sequential(bn(c), nn.ReLU())
        self.classifier = nn.Linear(c, num_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(x).mean((2, 3)))


def run_cell(
    x: torch.Tensor, arch: Sequence[int], op: Callable[[int], nn.Module], keep_none: bool = False
) -> torch.Tensor:
    """A fixed cell's output: ``op(e)`` is edge e's module; ``none`` edges are skipped (a cut-off node is zeros),
    or with ``keep_none`` run as ``x * 0``, which keeps them in the autograd graph (what NASWOT's pass expects)."""
    nodes = [x]
    for node in (1, 2):
        live = [e for e, (s, t) in enumerate(EDGES) if t == node and (keep_none or arch[e] != NONE)]
        terms = [op(e)(nodes[EDGES[e][0]]) for e in live]
        nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
    return nodes[-1]


class Cell(nn.Module):
    """One fixed cell (``none`` edges hold a Zero module for the layout)."""

    def __init__(self, arch: Sequence[int], c: int, keep_none: bool = False) -> None:
        super().__init__()
        self.arch, self.keep_none = tuple(arch), keep_none
        self.edges = nn.ModuleList(OP_FACTORIES[OPS[o]](c, True, True) for o in self.arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_cell(x, self.arch, lambda e: self.edges[e], self.keep_none)


class ToyNetwork(_Skeleton):
    """The standalone network of one architecture: ``forward(x) -> logits`` (``keep_none``: see run_cell)."""

    def __init__(self, arch: Sequence[int], num_classes: int, C: int = 8, N: int = 2, keep_none: bool = False) -> None:
        super().__init__(num_classes, C, N, lambda: Cell(arch, C, keep_none))
        self.arch = tuple(arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.head(x)


class SearchCell(nn.Module):
    """Every op on every edge: ``edges[e][k]`` is op k of edge e (non-affine BN, as DARTS-style search cells)."""

    def __init__(self, c: int, affine: bool, track: bool) -> None:
        super().__init__()
        self.c = c
        self.edges = nn.ModuleList(nn.ModuleList(OP_FACTORIES[n](c, affine, track) for n in OPS) for _ in EDGES)

    def edge(self, e: int, x: torch.Tensor, cell_input: torch.Tensor, mix: Mixture) -> torch.Tensor:
        """Edge e's output under ``mix`` (the meaning of each field: nasflat.spaces.mixture.Mixture)."""
        w, ops = mix.weights["cell"][e], self.edges[e]
        if mix.index is None:  # softmax-style: the weighted sum (`none` adds w * 0: nothing, also to d/dw)
            out = sum((w[k] * ops[k](x) for k in range(1, len(OPS))), torch.zeros_like(x))
        else:  # GDAS: only the sampled op runs; the other weights carry the straight-through gradient
            i = int(mix.index["cell"][e])
            rest = w.sum() - w[i]
            out = torch.zeros_like(x) + rest if i == NONE else w[i] * ops[i](x) + rest
        if mix.aux_skip:  # DARTS-: an auxiliary skip from the cell input on every edge
            out = out + mix.aux_skip * cell_input
        return out if mix.edge_weights is None else mix.edge_weights["cell"][e] * out

    def mix(self, x: torch.Tensor, mixture: Mixture) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2):
            nodes.append(sum(self.edge(e, nodes[s], x, mixture) for e, (s, t) in enumerate(EDGES) if t == node))
        return nodes[-1]

    def path(self, x: torch.Tensor, arch: Sequence[int]) -> torch.Tensor:
        """Single path: only the chosen op of each edge runs."""
        return run_cell(x, arch, lambda e: self.edges[e][arch[e]])


class ToySuperNet(_Skeleton):
    """``forward(x, choice)``: ``choice`` is a Mixture / ``{"cell": (3, 3) weights}`` or an architecture."""

    def __init__(
        self,
        num_classes: int,
        C: int = 8,
        N: int = 2,
        affine: bool = False,
        track_running_stats: bool = True,
        aux_skip: bool = False,
        partial_channels: int = 1,
    ) -> None:
        if partial_channels != 1:
            raise ValueError(f"partial_channels={partial_channels}: the toy supernet runs every op on all channels")
        super().__init__(num_classes, C, N, lambda: SearchCell(C, affine, track_running_stats))
        self.C, self.aux_skip = C, aux_skip

    def forward(self, x: torch.Tensor, choice: Any, aux_skip: float = 0.0) -> torch.Tensor:
        if isinstance(choice, Mixture | Mapping):
            mixture = Mixture.of(choice)
            if mixture.aux_skip + aux_skip and not self.aux_skip:
                raise ValueError("an auxiliary skip weight > 0 needs a supernet built with aux_skip=True (DARTS-)")
            if aux_skip:
                mixture = Mixture(mixture.weights, mixture.index, mixture.edge_weights, mixture.aux_skip + aux_skip)
            run = lambda cell, h: cell.mix(h, mixture)  # noqa: E731
        else:
            arch = tuple(int(o) for o in choice)
            run = lambda cell, h: cell.path(h, arch)  # noqa: E731
        x = self.stem(x)
        for cell in self.cells:
            x = run(cell, x)
        return self.head(x)

    def path_parameters(self, arch: Sequence[int]) -> list[torch.Tensor]:
        """ABS's weight vector of ``arch``'s path, in pieces: each cell's chosen non-``none`` ops (identity as
        eye(C)), then the stem, the last BN and the classifier weight (nasflat docs/methods.md, angle)."""
        like = next(self.parameters())
        pieces = [
            abs_op_vector(cell.edges[e][o], self.C, like)
            for cell in self.cells
            for e, o in enumerate(arch)
            if o != NONE
        ]
        fixed = [*flat_parameters(self.stem), *flat_parameters(self.lastact)]
        return [*pieces, *fixed, self.classifier.weight.detach().reshape(-1)]
