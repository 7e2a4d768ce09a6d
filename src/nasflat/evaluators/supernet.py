"""Weight-sharing evaluator: a path of the trained supernet, after SPOS-style BN recalibration, on search-val."""

from __future__ import annotations

import math
from itertools import islice
from typing import Any

from nasflat.evaluators.base import Evaluator
from nasflat.spaces.base import Arch
from nasflat.train import evaluate, recalibrate_bn


class SupernetEvaluator(Evaluator):
    """Accuracy (or negative loss) of each candidate's single path on the held-out search split."""

    name = "supernet"
    needs_supernet = True

    def __init__(
        self,
        ctx: Any,
        supernet: Any,
        *,
        metric: str = "acc",
        bn_images: int = 850,
        val_images: int | None = None,
        batch_size: int = 64,
    ) -> None:
        super().__init__(ctx.space)
        if metric not in ("acc", "loss"):
            raise ValueError(f"evaluator.metric={metric!r}: expected 'acc' or 'loss'")
        # `supernet` is the finished SupernetTrainer phase: .supernet (trained) and .init_state (initial weights)
        self.ctx, self.supernet, self.metric = ctx, supernet.supernet, metric
        self.bn_images, self.val_images, self.batch_size = bn_images, val_images, batch_size

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "bn_images": self.bn_images,
            "val_images": self.val_images,
            "split": "search_val",
        }

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        hw, out = self.ctx.hardware, []
        n_bn = math.ceil(self.bn_images / self.batch_size)
        val = self.ctx.loader("search_val", self.batch_size, train=False)
        n_val = len(val) if self.val_images is None else math.ceil(self.val_images / self.batch_size)
        for arch in archs:

            def fwd(m: Any, x: Any, a: Arch = arch) -> Any:
                return m(x, a)

            # a fresh loader per candidate with a fixed seed: every candidate recalibrates on the same images
            bn_loader = self.ctx.loader("search_train", self.batch_size, train=True, seed=self.ctx.seed + 301)
            recalibrate_bn(self.supernet, islice(bn_loader, n_bn), hw=hw, forward=fwd)
            stats = evaluate(self.supernet, islice(val, n_val), hw=hw, forward=fwd)
            out.append(stats["acc"] if self.metric == "acc" else -stats["loss"])
        return out
