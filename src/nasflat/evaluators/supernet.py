"""Weight-sharing evaluator: a path of the trained supernet, after SPOS-style BN recalibration, on search-val."""

from __future__ import annotations

from typing import Any, Literal

from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.paths import PathData
from nasflat.spaces.base import Arch


class SupernetEvaluator(Evaluator):
    """Accuracy (or negative loss) of each candidate's single path on the held-out search split.

    The SPOS/ABS baseline score (GeNAS's ``acc`` metric): BN statistics are recalibrated on ``bn_images`` training
    images (the same augmented batches for every candidate), then top-1 accuracy over ``val_images`` held-out images
    (null: the whole split). ``metric=loss`` scores by minus the mean per-image cross-entropy.
    """

    name = "supernet"
    needs_supernet = True
    parallel = True

    def __init__(
        self,
        ctx: Any,
        supernet: Any,
        *,
        metric: Literal["acc", "loss"] = "acc",
        bn_images: int = 850,
        val_images: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__(ctx.space)
        if metric not in ("acc", "loss"):
            raise ValueError(f"evaluator.metric={metric!r}: expected 'acc' or 'loss'")
        # `supernet` is the finished SupernetTrainer phase: .supernet (trained) and .init_state (initial weights)
        self.ctx, self.supernet, self.metric = ctx, supernet.supernet, metric
        self.data = PathData(
            ctx, bn_images=bn_images, val_images=val_images, batch_size=batch_size, eval_batch_size=eval_batch_size
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "bn_images": self.data.bn_images,
            "val_images": self.data.val_images,
            "split": "search_val",
        }

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        out = []
        for arch in archs:
            self.data.recalibrate(self.supernet, arch)
            ce, hit = self.data.outputs(self.supernet, arch)
            out.append(float(hit.double().mean()) if self.metric == "acc" else -float(ce.mean()))
        return out
