"""Building blocks shared by the NB201 and DARTS cell spaces (each space keeps its own name -> factory dict).

The blocks follow the reference implementations exactly (AutoDL-Projects for NB201, quark0/darts for DARTS);
where the two differ (e.g. conv bias in NB201's search cells) the difference is a constructor argument.
"""

from __future__ import annotations

import torch
from torch import nn


def bn(c: int, affine: bool = True, track: bool = True) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=affine, track_running_stats=track)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv -> BN (NB201 ``nor_conv_kxk``; DARTS preprocessing)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        dilation: int = 1,
        affine: bool = True,
        track: bool = True,
        conv_bias: bool = False,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, bias=conv_bias),
            bn(c_out, affine, track),
        )


class DilConv(nn.Sequential):
    """DARTS ``dil_conv``: ReLU -> depthwise (dilated) conv -> pointwise conv -> BN."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool = True
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            bn(c_out, affine),
        )


class SepConv(nn.Sequential):
    """DARTS ``sep_conv``: two stacked DilConv(dilation=1) blocks, the stride on the first."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine),
        )


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the op's output (stride- and channel-aware)."""

    def __init__(self, stride: int, c_out: int | None = None) -> None:
        super().__init__()
        self.stride, self.c_out = stride, c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.c_out is not None and self.c_out != x.shape[1]:
            return x.new_zeros(x.shape[0], self.c_out, *x.shape[2:])
        return x.mul(0.0)


class NoiseOp(nn.Module):
    """RobustDARTS's ``noise`` op (its space S4): fresh N(mean, std²) samples shaped like the input, subsampled by
    the stride, drawn from torch's default generator of the input's device.

    It behaves the same in training and evaluation mode (RobustDARTS draws in both), ignores the input's values and
    passes no gradient back to it: the op is a pure distraction the search should learn to avoid.
    """

    def __init__(self, stride: int, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        self.stride, self.mean, self.std = stride, mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return torch.empty(x.shape, dtype=x.dtype, device=x.device).normal_(self.mean, self.std)


class FactorizedReduce(nn.Module):
    """Stride-2 skip: ReLU, two 1x1 stride-2 convs on x and x shifted by one pixel, concat, BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True, track: bool = True, conv_bias: bool = False) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        half = c_out // 2
        self.conv_1 = nn.Conv2d(c_in, half, 1, stride=2, padding=0, bias=conv_bias)
        self.conv_2 = nn.Conv2d(c_in, c_out - half, 1, stride=2, padding=0, bias=conv_bias)
        self.bn = bn(c_out, affine, track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def avg_pool(stride: int) -> nn.AvgPool2d:
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


def max_pool(stride: int) -> nn.MaxPool2d:
    return nn.MaxPool2d(3, stride=stride, padding=1)


def count_parameters(model: nn.Module, exclude: str = "auxiliary") -> int:
    """Trainable parameters, skipping names containing ``exclude`` (DARTS counts without the auxiliary head)."""
    return sum(p.numel() for n, p in model.named_parameters() if not (exclude and exclude in n))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle, as PC-DARTS mixes an edge's processed and bypassed channels: channel
    ``g * (C / groups) + j`` moves to ``j * groups + g``."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)
