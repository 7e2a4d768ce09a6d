"""A differentiable relaxation and an α-gradient from outside nasflat (algo/relaxation=tempered,
algo/arch_grad=clipped): both work with any space, because they only read the space's weight shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from nasflat.algorithms.differentiable.relaxations.base import Alphas, ProbsTransform, Relaxation
from nasflat.spaces.mixture import Mixture


class TemperedSoftmax(Relaxation):
    """w_e = softmax(α_e / τ), τ annealed linearly from ``tau_max`` to ``tau_min`` over the search epochs."""

    name = "tempered_softmax"

    def __init__(self, tau_max: float = 5.0, tau_min: float = 0.5) -> None:
        if not 0 < tau_min <= tau_max:
            raise ValueError(f"need 0 < tau_min <= tau_max, got tau_min={tau_min}, tau_max={tau_max}")
        self.tau_max, self.tau_min, self.tau = tau_max, tau_min, tau_max

    def set_epoch(self, epoch: int, epochs: int) -> None:
        self.tau = self.tau_max + (self.tau_min - self.tau_max) * epoch / max(epochs - 1, 1)

    def schedules(self) -> dict[str, float]:
        return {"tau": self.tau}  # logged per epoch

    def probs(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        return {n: (a / self.tau).softmax(dim=-1) for n, a in alphas.items() if n in self.cells}

    def mixture(
        self, alphas: Alphas, *, transform: ProbsTransform | None = None, generator: torch.Generator | None = None
    ) -> Mixture:
        probs = self.probs(alphas)
        return Mixture(weights={n: transform(p) if transform else p for n, p in probs.items()})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tau_max": self.tau_max, "tau_min": self.tau_min}


class ClippedFirstOrder:
    """First-order DARTS with the α-gradient's global norm clipped to ``clip_norm`` (one pass per α step)."""

    name = "clipped_first_order"
    passes = 1

    def __init__(self, clip_norm: float = 1.0) -> None:
        if clip_norm <= 0:
            raise ValueError(f"arch_grad.clip_norm={clip_norm}: must be > 0")
        self.clip_norm = clip_norm

    def __call__(self, problem: Any, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        grads = problem.reduce(problem.grad(alphas))  # ∇_α of the α objective, averaged across ranks
        norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
        scale = min(1.0, self.clip_norm / norm) if norm > 0 else 1.0
        return [g * scale for g in grads]

    def check(self, relaxation: Relaxation, objective: Any) -> None:
        """Refuse combinations this gradient cannot honour (none here)."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "clip_norm": self.clip_norm}
