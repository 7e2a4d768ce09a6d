"""GeNAS's combined ranking scores (``cand_evaluator._test_candidate``; docs/methods.md#combined).

    angle+wlm: angle / pi + gamma / sigma_1 * F          (README: gamma = --wlm_weight = 16)
    acc+wlm:   acc      + gamma / sigma_1 * F          (acc: 15,000 BN-recalibration images, 25,000 val images)

Each part is its own evaluator (the flatness part recalibrates BN itself, so the order of the parts does not
matter, unlike in the official code where ``acc`` must run first on a shared model).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from nasflat.evaluators.angle import AngleEvaluator
from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.flatness import FlatnessEvaluator
from nasflat.evaluators.supernet import SupernetEvaluator
from nasflat.spaces.base import Arch


class _WithFlatness(Evaluator):
    """``first(arch) + gamma / sigma_1 * F(arch)``; ``flatness`` holds FlatnessEvaluator's options unchanged."""

    needs_supernet = True
    parallel = True

    def __init__(self, ctx: Any, supernet: Any, *, gamma: float = 16.0, **flatness: Any) -> None:
        super().__init__(ctx.space)
        self.gamma = float(gamma)
        self.flatness = FlatnessEvaluator(ctx, supernet, **flatness)
        self.weight = self.gamma / self.flatness.stds[0]  # gamma * beta, beta = 1 / sigma_1

    @abstractmethod
    def _first(self, archs: list[Arch]) -> list[float]:
        """The non-flatness part of the score."""

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        # the parts are plain scorers here: this evaluator already shards, so theirs must not shard again
        first = self._first(archs)
        flat = self.flatness._score_batch(archs)
        return [a + self.weight * f for a, f in zip(first, flat)]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "gamma": self.gamma, "flatness": self.flatness.describe()}


class AngleFlatnessEvaluator(_WithFlatness):
    """GeNAS ``angle+wlm``: normalized ABS angle + gamma / sigma_1 * F."""

    name = "angle_flatness"

    def __init__(self, ctx: Any, supernet: Any, *, gamma: float = 16.0, **flatness: Any) -> None:
        super().__init__(ctx, supernet, gamma=gamma, **flatness)
        self.angle = AngleEvaluator(ctx, supernet, normalize=True)

    def _first(self, archs: list[Arch]) -> list[float]:
        return self.angle._score_batch(archs)


class AccFlatnessEvaluator(_WithFlatness):
    """GeNAS ``acc+wlm``: supernet accuracy (fraction) + gamma / sigma_1 * F."""

    name = "acc_flatness"

    def __init__(
        self,
        ctx: Any,
        supernet: Any,
        *,
        gamma: float = 16.0,
        acc_bn_images: int = 15000,
        acc_val_images: int | None = 25000,
        **flatness: Any,
    ) -> None:
        super().__init__(ctx, supernet, gamma=gamma, **flatness)
        batch_size, eval_batch_size = flatness.get("batch_size", 64), flatness.get("eval_batch_size")
        self.acc = SupernetEvaluator(
            ctx,
            supernet,
            metric="acc",
            bn_images=acc_bn_images,
            val_images=acc_val_images,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
        )

    def _first(self, archs: list[Arch]) -> list[float]:
        return self.acc._score_batch(archs)
