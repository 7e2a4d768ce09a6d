"""Net2Wider for the partial-channel candidate ops: DrNAS's progressive learning (docs/methods.md#drnas).

When a supernet's partial-channel ratio drops from K to K' the ops of every mixed edge must see C/K' channels
instead of C/K. Each op is widened in place, as DrNAS's ``net2wider.py``: every weight tensor keeps its old
channels and gains copies of randomly drawn existing ones (no rescaling of the following layer: the new input
channels carry real, previously bypassed features, so the edge's function changes anyway). A depthwise conv's new
filters are random copies, and the pointwise conv after it takes the matching input columns; a BN follows the
channels of the conv before it. Each replaced parameter's growth is returned as a :data:`Recipe` so the caller can
grow optimizer state (SGD momentum) the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from nasflat.spaces.ops import DilConv, FactorizedReduce, ReLUConvBN

# per grown dimension: (dim, gather index); new = old.index_select(dim, index) for each entry in turn
Recipe = tuple[tuple[int, torch.Tensor], ...]


def grow(t: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """``t`` grown as a parameter was (its momentum buffer, say): the recipe's gathers, in the tensor's format."""
    out = t
    for dim, index in recipe:
        out = out.index_select(dim, index.to(t.device))
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)
    return out


def check_widen(width: int, old: int, new: int) -> None:
    """A widening is from ``old`` to a ratio ``new <= old`` that divides the supernet width."""
    if isinstance(new, bool) or not isinstance(new, int) or new < 1 or width % new:
        raise ValueError(f"partial_channels={new!r} must be an integer >= 1 dividing the supernet width C={width}")
    if new > old:
        raise ValueError(f"partial_channels={new} would narrow the ops (built for {old}); widening needs K' <= K")


def widen_ops(ops: Iterable[nn.Module], channels: int, generator: torch.Generator) -> dict[nn.Parameter, Recipe]:
    """Widen each op in place to ``channels``; returns each new parameter's recipe (its growth from the old one)."""
    recipes: dict[nn.Parameter, Recipe] = {}
    for op in ops:
        _widen(op, channels, generator, recipes)
    return recipes


def _extend(old: int, new: int, generator: torch.Generator) -> torch.Tensor:
    """The old channels, then ``new - old`` random copies of them (DrNAS draws uniformly with replacement)."""
    if new < old:
        raise ValueError(f"cannot widen {old} channels to {new}")
    return torch.cat([torch.arange(old), torch.randint(0, old, (new - old,), generator=generator)])


def _widen(m: nn.Module, c: int, g: torch.Generator, out: dict[nn.Parameter, Recipe]) -> None:
    """Dispatch on the block type (each grows its tensors consistently with its channel flow)."""
    if isinstance(m, DilConv):  # ReLU, depthwise, pointwise, BN (SepConv = two of them)
        dw, pw, norm = m[1], m[2], m[3]
        index = _extend(dw.out_channels, c, g)
        _conv(dw, None, index, out)
        index = _conv(pw, index, _extend(pw.out_channels, c, g), out)
        _norm(norm, index, out)
    elif isinstance(m, ReLUConvBN):
        conv = m[1]
        _norm(m[2], _conv(conv, _extend(conv.in_channels, c, g), _extend(conv.out_channels, c, g), out), out)
    elif isinstance(m, FactorizedReduce):  # two half-width convs concatenated; the BN follows their channels
        half = m.conv_1.out_channels
        first = _conv(m.conv_1, _extend(m.conv_1.in_channels, c, g), _extend(half, c // 2, g), out)
        second = _conv(
            m.conv_2, _extend(m.conv_2.in_channels, c, g), _extend(m.conv_2.out_channels, c - c // 2, g), out
        )
        _norm(m.bn, torch.cat([first, half + second]), out)
    elif isinstance(m, _BatchNorm):  # after a pooling op: its channels are the op's input's
        _norm(m, _extend(m.num_features, c, g), out)
    else:
        own = [n for n, _ in m.named_parameters(recurse=False)] + [n for n, _ in m.named_buffers(recurse=False)]
        if own or isinstance(m, nn.Conv2d):
            raise ValueError(f"cannot widen a {type(m).__name__} outside a known block (tensors {own})")
        for child in m.children():
            _widen(child, c, g, out)


def _replace(module: nn.Module, name: str, recipe: Recipe, out: dict[nn.Parameter, Recipe]) -> None:
    old = getattr(module, name)
    new = nn.Parameter(grow(old.detach(), recipe), requires_grad=old.requires_grad)
    setattr(module, name, new)
    out[new] = recipe


def _conv(
    conv: nn.Conv2d, in_index: torch.Tensor | None, out_index: torch.Tensor, out: dict[nn.Parameter, Recipe]
) -> torch.Tensor:
    """Grow a conv's output channels (and input channels unless depthwise: ``in_index=None``); returns out_index."""
    _replace(conv, "weight", ((0, out_index),) if in_index is None else ((0, out_index), (1, in_index)), out)
    if conv.bias is not None:
        _replace(conv, "bias", ((0, out_index),), out)
    conv.out_channels = len(out_index)
    if in_index is None:
        conv.in_channels = conv.groups = len(out_index)
    else:
        conv.in_channels = len(in_index)
    return out_index


def _norm(norm: _BatchNorm, index: torch.Tensor, out: dict[nn.Parameter, Recipe]) -> None:
    if norm.affine:
        _replace(norm, "weight", ((0, index),), out)
        _replace(norm, "bias", ((0, index),), out)
    for name in ("running_mean", "running_var"):
        buf = getattr(norm, name)
        if buf is not None:
            setattr(norm, name, grow(buf, ((0, index),)))
    norm.num_features = len(index)
