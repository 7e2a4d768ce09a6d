"""Multiply-accumulate counting by forward hooks (the convention NAS papers call "FLOPs").

Counts conv and linear MACs only (BN, ReLU, pooling and additions are ignored), matching how DARTS/NB201
papers report model cost.
"""

from __future__ import annotations

import torch
from torch import nn


def count_macs(model: nn.Module, input_size: tuple[int, ...], exclude: str = "auxiliary") -> int:
    """MACs of one forward pass of a batch-1 input of ``input_size`` (C, H, W) in eval mode."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += out.numel() // out.shape[0] * k

    def linear_hook(m: nn.Linear, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() // out.shape[0] * m.in_features

    handles = []
    for name, m in model.named_modules():
        if exclude and exclude in name:
            continue
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros(1, *input_size, device=p.device, dtype=p.dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
