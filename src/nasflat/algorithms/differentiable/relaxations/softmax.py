"""DARTS's relaxation: softmax over the ops of each edge (docs/methods.md#darts)."""

from __future__ import annotations

import torch

from nasflat.algorithms.differentiable.relaxations.base import Alphas, ProbsTransform, Relaxation
from nasflat.spaces.mixture import Mixture


class Softmax(Relaxation):
    """w_e = softmax(α_e); every op of every edge runs."""

    name = "softmax"

    def probs(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        return {n: a.softmax(dim=-1) for n, a in alphas.items() if n in self.cells}

    def mixture(
        self, alphas: Alphas, *, transform: ProbsTransform | None = None, generator: torch.Generator | None = None
    ) -> Mixture:
        probs = self.probs(alphas)
        return Mixture(weights={n: transform(p) if transform else p for n, p in probs.items()})
