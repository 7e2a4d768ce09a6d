"""Fixed data for scoring single paths of a trained supernet (SPOS / GeNAS), prepared once per evaluator.

Every candidate is recalibrated on the *same* augmented training batches (a loader with a fixed seed) and scored
on the same ordered held-out batches, so a score is a function of the architecture alone and can be cached,
sharded and reproduced. The held-out images are materialized once as one tensor: candidates then only pay for
their forward passes, which may run in larger chunks than the loss batches (BN is in eval mode there, so each
image's output does not depend on its chunk) while the loss keeps GeNAS's definition, the mean over loss batches
of the per-batch mean cross-entropy (a last partial batch weighs like a full one).
"""

from __future__ import annotations

import dataclasses
import math
from itertools import islice
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasflat.rng import Purpose
from nasflat.spaces.base import Arch
from nasflat.train import recalibrate_bn

Batch = tuple[torch.Tensor, torch.Tensor]


def forward_path(model: nn.Module, x: torch.Tensor, arch: Arch) -> torch.Tensor:
    """Logits of ``arch``'s single path; inputs follow the model's dtype (float64 models in exactness tests)."""
    dtype = next(model.parameters()).dtype
    return model(x.to(dtype), arch)


class PathData:
    """BN-recalibration batches and held-out images for one (batch size, image budget) setting."""

    def __init__(
        self,
        ctx: Any,
        *,
        bn_images: int = 850,
        val_images: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        bn_seed: int | None = None,
        val_split: str = "search_val",
    ) -> None:
        if batch_size < 1 or bn_images < 0 or (val_images is not None and val_images < 1):
            raise ValueError(
                f"need batch_size >= 1, bn_images >= 0, val_images >= 1 or null; got {batch_size}, {bn_images}, "
                f"{val_images}"
            )
        self.ctx, self.batch_size = ctx, batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.bn_images, self.val_images, self.val_split = bn_images, val_images, val_split
        self.bn_seed = ctx.stream(Purpose.BN_RECALIBRATION) if bn_seed is None else bn_seed
        self.hw = dataclasses.replace(ctx.hardware, bf16=False)  # noise of 1e-3 is below bf16 resolution
        self._bn: list[Batch] | None = None
        self._val: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # ---- the data -----------------------------------------------------------------------------------------------
    def bn_batches(self) -> list[Batch]:
        """ceil(bn_images / batch) augmented search-train batches, the same for every candidate."""
        if self._bn is None:
            n = math.ceil(self.bn_images / self.batch_size)
            loader = self.ctx.loader("search_train", self.batch_size, train=True, seed=self.bn_seed, shard=False)
            self._bn = list(islice(loader, n))
        return self._bn

    def val(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(images (N, 3, H, W), labels (N,), loss-batch index of each image (N,)) of the held-out split, in order."""
        if self._val is None:
            loader = self.ctx.loader(self.val_split, self.batch_size, train=False)
            n = len(loader) if self.val_images is None else math.ceil(self.val_images / self.batch_size)
            batches = list(islice(loader, n))
            x = torch.cat([b[0] for b in batches])
            y = torch.cat([b[1] for b in batches])
            sizes = torch.tensor([len(b[1]) for b in batches], device=y.device)
            self._val = (x, y, torch.repeat_interleave(torch.arange(len(batches), device=y.device), sizes))
        return self._val

    @property
    def num_val_batches(self) -> int:
        return int(self.val()[2][-1]) + 1

    # ---- what every path evaluator does ------------------------------------------------------------------------
    def recalibrate(self, model: nn.Module, arch: Arch) -> None:
        """SPOS/GeNAS: reset BN running stats, forward the fixed batches in train mode; leaves the model in eval."""
        if self.bn_images > 0:
            recalibrate_bn(model, self.bn_batches(), hw=self.hw, forward=lambda m, x: forward_path(m, x, arch))
        model.eval()

    @torch.no_grad()
    def outputs(self, model: nn.Module, arch: Arch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image cross-entropy (float64, (N,)) and correctness ((N,) bool) on the held-out images, eval mode."""
        model.eval()
        x, y, _ = self.val()
        ce, hit = [], []
        for i in range(0, len(y), self.eval_batch_size):
            logits = forward_path(model, x[i : i + self.eval_batch_size], arch)
            target = y[i : i + self.eval_batch_size]
            ce.append(F.cross_entropy(logits, target, reduction="none").double())
            hit.append(logits.argmax(1) == target)
        return torch.cat(ce), torch.cat(hit)

    def batch_mean_loss(self, per_image: torch.Tensor) -> float:
        """GeNAS's loss: the mean over loss batches of each batch's mean cross-entropy."""
        _, _, batch = self.val()
        nb = int(batch[-1]) + 1
        sums = torch.zeros(nb, dtype=torch.float64, device=per_image.device).index_add_(0, batch, per_image)
        counts = torch.bincount(batch, minlength=nb).to(torch.float64)
        return float((sums / counts).mean())
