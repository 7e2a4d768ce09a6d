"""NB201's standalone TinyNetwork (parameter counts equal the benchmark's for every architecture) and its cost."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
from torch import nn

from nasflat.flops import count_macs
from nasflat.spaces.nb201.codec import EDGES, NONE, NUM_NODES, OPS, NB201Arch, validate_arch
from nasflat.spaces.ops import Identity, ReLUConvBN, Zero, avg_pool, bn


def _conv(kernel: int) -> Callable[[int, bool, bool], nn.Module]:
    # NB201's ReLUConvBN has a conv bias exactly when its BN is not affine.
    return lambda c, affine, track: ReLUConvBN(
        c, c, kernel, 1, kernel // 2, affine=affine, track=track, conv_bias=not affine
    )


OP_FACTORIES: dict[str, Callable[[int, bool, bool], nn.Module]] = {
    "none": lambda c, affine, track: Zero(1),
    "skip_connect": lambda c, affine, track: Identity(),
    "nor_conv_1x1": _conv(1),
    "nor_conv_3x3": _conv(3),
    "avg_pool_3x3": lambda c, affine, track: avg_pool(1),
}


class ResidualBlock(nn.Module):
    """NB201's reduction block: ReLUConvBN 3x3/2 -> ReLUConvBN 3x3, plus AvgPool2d(2) -> Conv1x1 shortcut (no BN)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Cell(nn.Module):
    """A fixed NB201 cell; ``none`` edges hold a Zero module (for the layout) but are skipped.

    ``keep_none=True`` runs them as ``x * 0`` instead, as AutoDL's InferCell does: the values are the same, but the
    zero terms keep every op in the autograd graph, which is what NASWOT's jacobian pass sees (a node consumed only
    through ``none`` still reaches the logits, and a cut-off cell still depends on the input).
    """

    def __init__(
        self, arch: NB201Arch, c: int, affine: bool = True, track: bool = True, keep_none: bool = False
    ) -> None:
        super().__init__()
        self.arch = tuple(arch)
        self.keep_none = keep_none
        self.edges = nn.ModuleList(OP_FACTORIES[OPS[o]](c, affine, track) for o in arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for i in range(1, NUM_NODES):
            terms = [
                self.edges[e](nodes[j])
                for e, (t, j) in enumerate(EDGES)
                if t == i and (self.keep_none or self.arch[e] != NONE)
            ]
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return nodes[-1]


class _Skeleton(nn.Module):
    """Stem, [C]*N cells, residual block, [2C]*N cells, residual block, [4C]*N cells, BN+ReLU, pool, linear."""

    def __init__(self, num_classes: int, c: int, n: int, make_cell: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), bn(c))
        layers: list[nn.Module] = []
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage:
                layers.append(ResidualBlock(width // 2, width))
            layers.extend(make_cell(width) for _ in range(n))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(bn(4 * c), nn.ReLU())
        self.classifier = nn.Linear(4 * c, num_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(x).mean((2, 3)))  # (B, 4C, H, W) -> (B, 4C) -> (B, classes)


class NB201Network(_Skeleton):
    """NB201's TinyNetwork for one architecture: ``forward(x) -> logits`` (``keep_none``: see :class:`Cell`)."""

    def __init__(self, arch: NB201Arch, num_classes: int, C: int = 16, N: int = 5, keep_none: bool = False) -> None:
        arch = NB201Arch(arch)
        super().__init__(num_classes, C, N, lambda c: Cell(arch, c, keep_none=keep_none))
        self.arch = arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, C, H, W)
        for cell in self.cells:
            x = cell(x)
        return self.head(x)


# ---- cost -------------------------------------------------------------------------------------------------------
@functools.cache
def _param_parts(num_classes: int, C: int, N: int) -> tuple[int, dict[tuple[int, int], int]]:
    """Measured on built (meta-device) modules: the arch-independent part and each (op, width)'s parameters."""
    with torch.device("meta"):
        fixed = sum(p.numel() for p in NB201Network((NONE,) * len(EDGES), num_classes, C, N).parameters())
        per_op = {
            (k, width): sum(p.numel() for p in OP_FACTORIES[name](width, True, True).parameters())
            for k, name in enumerate(OPS)
            for width in (C, 2 * C, 4 * C)
        }
    return fixed, per_op


def param_count(arch: Sequence[int], num_classes: int, C: int = 16, N: int = 5) -> int:
    """Parameters of ``NB201Network(arch, num_classes, C, N)`` without building it (cheap for all 15,625 archs)."""
    fixed, per_op = _param_parts(num_classes, C, N)
    return fixed + N * sum(per_op[(o, w)] for o in arch for w in (C, 2 * C, 4 * C))


def cost(
    arch: NB201Arch | Sequence[int], num_classes: int, input_size: tuple[int, int, int] = (3, 32, 32)
) -> dict[str, int]:
    """Parameters and MACs (conv + linear, batch 1) of the standalone network; 3x16x16 for ImageNet16-120."""
    with torch.device("meta"):  # shapes are all count_macs needs
        net = NB201Network(validate_arch(arch), num_classes)
    return {"params": sum(p.numel() for p in net.parameters()), "macs": count_macs(net, input_size)}
