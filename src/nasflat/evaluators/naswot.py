"""NASWOT: score a network at initialisation by how differently it codes one batch's images (docs/methods.md#naswot).

BayesWatch/nas-without-training ``score_networks.py`` + ``scores.hooklogdet``: the network (``num_classes=1``, train
mode, so BN uses batch statistics) sees one batch of 128 training images without augmentation. Pass 1 is a forward
and a backward of sum(y) to the input, which marks the ReLUs whose output reaches the logits; pass 2 is a plain
forward in which each marked ReLU adds, for its input x flattened per image with binary code c = 1[x > 0],
K += c c^T + (1 - c)(1 - c)^T (the number of units on which two images agree). Score = log|det K|.

The scoring network keeps ``none`` edges as zero ops in the graph (``space.network(..., keep_none=True)``), as the
official code's AutoDL cell does: a ReLU whose output reaches the logits only through ``none`` is still marked, and
a cell cut off by ``none`` still gets a finite score. Only a network whose logits have no graph path to the images
at all scores -inf (the official code gets NaN there and drops it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nasflat.evaluators.base import Evaluator
from nasflat.hardware import rng_fork
from nasflat.rng import Purpose
from nasflat.spaces.base import Arch


def naswot_score(net: nn.Module, x: torch.Tensor, probe: int = 2) -> float:
    """log|det K| of ``net`` on the batch ``x`` (B, 3, H, W); ``net`` is used in train mode as the official code.

    Which ReLUs the jacobian pass reaches is a property of the autograd graph, not of the values, so that pass runs
    on the first ``probe`` images only (the same set as with the whole batch, at a fraction of the backward cost).
    """
    net.train()
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    reached: set[nn.Module] = set()

    def mark(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        if out.requires_grad:
            out.register_hook(lambda grad: reached.add(module))

    handles = [m.register_forward_hook(mark) for m in relus]
    try:
        x1 = x[: max(probe, 1)].detach().clone().requires_grad_(True)
        y = _logits(net(x1))
        params = [p for p in net.parameters() if p.requires_grad]
        # == y.backward(ones_like(y)) of the official code (its hooks see every ReLU whose output reaches y, also
        # through parameters only), without writing any .grad
        grads = torch.autograd.grad(y.sum(), [x1, *params], allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    if grads[0] is None:  # no graph path from the images to the logits; official: NaN, dropped
        return float("-inf")

    b = x.shape[0]
    k = torch.zeros(b, b, dtype=torch.float64, device=x.device)

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal k
        if module not in reached:
            return
        c = (inputs[0].reshape(b, -1) > 0).float()  # (B, units)
        s = c.sum(1, dtype=torch.float64)
        # c c^T + (1-c)(1-c)^T = 2 c c^T - s 1^T - 1 s^T + units; the 0/1 products are exact integers in float32
        k = k + 2 * (c @ c.T).double() - s[:, None] - s[None, :] + c.shape[1]

    handles = [m.register_forward_hook(count) for m in relus]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(k)[1])


def _logits(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


class NaswotEvaluator(Evaluator):
    """NASWOT score of each architecture's standalone network at a fixed random initialisation (no training).

    Every architecture sees the same batch (``batch_size`` images of ``split`` drawn with ``data_seed``) and is
    initialised from the same seed, so the score is a function of the architecture. ``network`` holds options for
    ``space.network`` (NB201 defaults to the benchmark's C=16, N=5; ``keep_none`` defaults to True, the official
    scoring graph). ``init_seed`` / ``data_seed``: None derives them from the run seed (:mod:`nasflat.rng`).
    """

    name = "naswot"
    parallel = True

    def __init__(
        self,
        ctx: Any,
        *,
        batch_size: int = 128,
        split: str = "train",
        network: dict[str, Any] | None = None,
        init_seed: int | None = None,
        data_seed: int | None = None,
    ) -> None:
        super().__init__(ctx.space)
        self.ctx, self.batch_size, self.split = ctx, batch_size, split
        self.network = {"keep_none": True, **(network or {})}
        self.init_seed = ctx.stream(Purpose.NASWOT_INIT) if init_seed is None else int(init_seed)
        self.data_seed = ctx.stream(Purpose.NASWOT_DATA) if data_seed is None else int(data_seed)
        self._x: torch.Tensor | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "batch_size": self.batch_size, "split": self.split, "network": self.network}

    def batch(self) -> torch.Tensor:
        """The images every architecture is scored on (no augmentation)."""
        if self._x is None:
            loader = self.ctx.loader(self.split, self.batch_size, train=False, seed=self.data_seed)
            self._x = loader.sample_batch()[0]
        return self._x

    def build(self, arch: Arch) -> nn.Module:
        with rng_fork(self.init_seed):
            net = self.ctx.space.network(arch, 1, **self.network)
        return self.ctx.hardware.prepare(net)

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        return [naswot_score(self.build(a), self.batch()) for a in archs]
