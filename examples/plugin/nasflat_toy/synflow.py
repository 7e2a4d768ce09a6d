"""SynFlow, a zero-cost proxy: how much "synaptic flow" a network at initialisation passes from input to output.

Tanaka et al. 2020 (pruning) and Abdelfattah et al. 2021 (zero-cost NAS proxies): make the network linear by taking
the absolute value of every parameter and buffer, feed one all-ones image in double precision, let
R = sum of the outputs, and score sum |θ ⊙ ∂R/∂θ| over the weights of the convolution and linear layers (the layers
the zero-cost code scores). BatchNorm is removed (``bn=False``, the proxy as published) or kept in train mode, so
it normalises with the statistics of the all-ones image's activations (``bn=True``: their ``synflow_bn`` variant,
whose pruning copy is put in train mode). No image is scored: the dataset is loaded only for its class count and
image shape.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from nasflat.evaluators.base import Evaluator
from nasflat.hardware import rng_fork
from nasflat.rng import Purpose
from nasflat.spaces.base import Arch

SCORED = (nn.Conv2d, nn.Linear)


def _drop_batchnorm(net: nn.Module) -> None:
    """Replace every BatchNorm by the identity, in place."""
    for name, child in net.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, nn.Identity())
        else:
            _drop_batchnorm(child)


def synflow_score(net: nn.Module, input_shape: tuple[int, ...], bn: bool = False) -> float:
    """SynFlow of ``net`` for inputs of ``input_shape`` (C, H, W); ``net`` itself is left unchanged.

    ``bn``: keep BatchNorm, in train mode (batch statistics, as zero-cost's ``synflow_bn``); every other layer stays
    in eval mode, so dropout or drop-path cannot make the score random."""
    net = copy.deepcopy(net).double().eval()
    if bn:
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train()
    else:
        _drop_batchnorm(net)
    with torch.no_grad():
        for tensor in net.state_dict().values():
            tensor.abs_()
    device = next(net.parameters()).device
    out = net(torch.ones(1, *input_shape, dtype=torch.float64, device=device))
    out = out[0] if isinstance(out, tuple) else out  # (logits, aux_logits): the logits
    layers = [m for m in net.modules() if isinstance(m, SCORED)]
    grads = torch.autograd.grad(out.sum(), [m.weight for m in layers], allow_unused=True)
    with torch.no_grad():
        return float(sum((m.weight * g).abs().sum() for m, g in zip(layers, grads) if g is not None))


class SynflowEvaluator(Evaluator):
    """SynFlow of each architecture's standalone network at a fixed initialisation (higher is better).

    Every architecture is initialised from the same seed (``init_seed``; None derives it from the run seed), so the
    score is a function of the architecture. ``network``: options for ``space.network`` (e.g. ``{C: 16}``).
    """

    name = "synflow"
    parallel = True

    def __init__(
        self, ctx: Any, *, network: dict[str, Any] | None = None, bn: bool = False, init_seed: int | None = None
    ) -> None:
        super().__init__(ctx.space)
        self.ctx, self.network, self.bn = ctx, dict(network or {}), bn
        # a sub-key of the NASWOT init stream: another stream of the run seed, without a new nasflat Purpose
        self.init_seed = ctx.stream(Purpose.NASWOT_INIT, "synflow") if init_seed is None else int(init_seed)
        self._shape: tuple[int, ...] | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "network": self.network, "bn": self.bn, "init_seed": self.init_seed}

    def input_shape(self) -> tuple[int, ...]:
        """One training image's shape (C, H, W): with the class count, all SynFlow reads from the data."""
        if self._shape is None:
            x = self.ctx.loader("train", 1, train=False).sample_batch()[0]
            self._shape = tuple(x.shape[1:])
        return self._shape

    def build(self, arch: Arch) -> nn.Module:
        with rng_fork(self.init_seed):
            net = self.ctx.space.network(arch, self.ctx.num_classes, **self.network)
        return net.to(self.ctx.hardware.torch_device)

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        return [synflow_score(self.build(a), self.input_shape(), self.bn) for a in archs]
