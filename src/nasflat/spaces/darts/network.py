"""The DARTS op factory and the standalone (evaluation) networks built from a Genotype.

Follows quark0/darts ``cnn/model.py``: ``NetworkCIFAR`` (20 cells, 36 channels, auxiliary head after the cell at 2/3
depth) and ``NetworkImageNet`` (mobile setting: 14 cells, 48 channels, three stride-2 stem convs, 7x7 average pool).
Drop-path is applied in training only, to every op except the identity; the trainer sets ``drop_path_prob`` per epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nasflat.spaces.darts.codec import NUM_NODES, Genotype
from nasflat.spaces.ops import (
    DilConv,
    FactorizedReduce,
    Identity,
    NoiseOp,
    ReLUConvBN,
    SepConv,
    Zero,
    avg_pool,
    bn,
    max_pool,
)

# name -> factory(C, stride, affine); shared by the search cells (darts.py) and the evaluation cells below.
OPS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda c, stride, affine: Zero(stride),
    "max_pool_3x3": lambda c, stride, affine: max_pool(stride),
    "avg_pool_3x3": lambda c, stride, affine: avg_pool(stride),
    "skip_connect": lambda c, stride, affine: Identity() if stride == 1 else FactorizedReduce(c, c, affine=affine),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine=affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine=affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine=affine),
    "noise": lambda c, stride, affine: NoiseOp(stride, 0.0, 1.0),  # RobustDARTS's S4: standard normal noise
}


def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero whole samples with probability ``p`` and rescale the rest (per-sample mask, torch's default RNG,
    like dropout)."""
    keep = 1.0 - p
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x / keep * mask


def preprocess(c_prev_prev: int, c_prev: int, c: int, reduction_prev: bool, affine: bool) -> tuple[nn.Module, ...]:
    """Input adapters: the older input is spatially halved when the previous cell was a reduction cell."""
    pre0 = (
        FactorizedReduce(c_prev_prev, c, affine=affine)
        if reduction_prev
        else ReLUConvBN(c_prev_prev, c, 1, 1, 0, affine=affine)
    )
    return pre0, ReLUConvBN(c_prev, c, 1, 1, 0, affine=affine)


class EvalCell(nn.Module):
    """A cell running exactly the genotype's 8 ops; output = concat of the ``*_concat`` nodes."""

    def __init__(
        self, genotype: Genotype, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = preprocess(c_prev_prev, c_prev, c, reduction_prev, affine=True)
        pairs = genotype.reduce if reduction else genotype.normal
        self.concat = genotype.reduce_concat if reduction else genotype.normal_concat
        self.multiplier = len(self.concat)
        self.inputs = tuple(j for _, j in pairs)
        # only edges leaving the cell inputs are strided in a reduction cell
        self.ops = nn.ModuleList(OPS[name](c, 2 if reduction and j < 2 else 1, True) for name, j in pairs)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]  # (B, C, H, W) each
        for node in range(NUM_NODES):
            total = 0
            for slot in (2 * node, 2 * node + 1):
                op = self.ops[slot]
                h = op(states[self.inputs[slot]])
                if self.training and drop_prob > 0.0 and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)  # (B, multiplier*C, H', W')


class AuxiliaryHeadCIFAR(nn.Module):
    """quark0's auxiliary classifier for an 8x8 input (pool to 2x2, 1x1 conv 128, 2x2 conv 768, linear)."""

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            bn(128),
            nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False),
            bn(768),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class AuxiliaryHeadImageNet(nn.Module):
    """quark0's ImageNet auxiliary classifier (fed the 7x7 map after the second reduction cell); like quark0 it has
    no BN after the 768-channel conv (kept for consistency with the published experiments)."""

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            bn(128),
            nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class _EvalNetwork(nn.Module):
    """Shared cell stack: reductions at layers//3 and 2*layers//3, auxiliary head after cell 2*layers//3."""

    def _build_cells(
        self, genotype: Genotype, layers: int, c_prev_prev: int, c_prev: int, c: int, reduction_prev: bool
    ) -> int:
        self.layers = layers
        self.aux_index = 2 * layers // 3
        self.cells = nn.ModuleList()
        self.aux_channels = 0
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2
            cell = EvalCell(genotype, c_prev_prev, c_prev, c, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c
            if i == self.aux_index:
                self.aux_channels = c_prev
        return c_prev

    def _run_cells(self, s0: torch.Tensor, s1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary and self.training:
                aux = self.auxiliary_head(s1)
        return s1, aux

    def _output(
        self, logits: torch.Tensor, aux: torch.Tensor | None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return (logits, aux) if aux is not None else logits


class NetworkCIFAR(_EvalNetwork):
    """DARTS CIFAR network: ``forward(x)`` -> logits, or ``(logits, aux_logits)`` when training with the aux head."""

    def __init__(
        self,
        genotype: Genotype,
        num_classes: int = 10,
        C: int = 36,
        layers: int = 20,
        auxiliary: bool = False,
        stem_multiplier: int = 3,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.genotype, self.auxiliary, self.drop_path_prob = genotype, auxiliary, drop_path_prob
        c_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), bn(c_stem))
        c_out = self._build_cells(genotype, layers, c_stem, c_stem, C, reduction_prev=False)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(self.aux_channels, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)  # (B, 3C, H, W)
        s, aux = self._run_cells(s, s)
        return self._output(self.classifier(self.global_pooling(s).flatten(1)), aux)


class NetworkImageNet(_EvalNetwork):
    """DARTS ImageNet mobile-setting network (224x224 input; stem reduces to 28x28, cells to 7x7)."""

    def __init__(
        self,
        genotype: Genotype,
        num_classes: int = 1000,
        C: int = 48,
        layers: int = 14,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.genotype, self.auxiliary, self.drop_path_prob = genotype, auxiliary, drop_path_prob
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
            bn(C // 2),
            nn.ReLU(),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            bn(C),
        )
        self.stem1 = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), bn(C))
        # stem1 halves stem0's output, so the first cell treats its older input as after a reduction
        c_out = self._build_cells(genotype, layers, C, C, C, reduction_prev=True)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadImageNet(self.aux_channels, num_classes)
        self.global_pooling = nn.AvgPool2d(7)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)  # (B, C, H/4, W/4)
        s1 = self.stem1(s0)  # (B, C, H/8, W/8)
        s, aux = self._run_cells(s0, s1)
        return self._output(self.classifier(self.global_pooling(s).flatten(1)), aux)


NETWORK_DEFAULTS: dict[str, dict[str, int]] = {
    "cifar": {"layers": 20, "C": 36},
    "imagenet": {"layers": 14, "C": 48},
}


def build_network(
    genotype: Genotype,
    num_classes: int,
    kind: str = "cifar",
    layers: int | None = None,
    C: int | None = None,
    auxiliary: bool = False,
    drop_path_prob: float = 0.0,
) -> NetworkCIFAR | NetworkImageNet:
    """The standalone network for ``genotype``; ``layers``/``C`` default to the DARTS setting of ``kind``."""
    if kind not in NETWORK_DEFAULTS:
        raise ValueError(f"unknown network kind {kind!r}; choose one of {sorted(NETWORK_DEFAULTS)}")
    d = NETWORK_DEFAULTS[kind]
    cls = NetworkCIFAR if kind == "cifar" else NetworkImageNet
    return cls(
        genotype,
        num_classes=num_classes,
        C=d["C"] if C is None else C,
        layers=d["layers"] if layers is None else layers,
        auxiliary=auxiliary,
        drop_path_prob=drop_path_prob,
    )
