"""The α objective: which losses the α step minimizes (docs/methods.md#the-differentiable-harness).

An objective is a weighted sum of cross-entropies on the iteration's batches: ``terms`` pairs a batch name
(``val``: the α split's batch, ``train``: the weight step's batch) with its weight. The α-gradient strategy
differentiates it through :class:`~nasflat.algorithms.differentiable.problem.AlphaProblem`.
"""

from __future__ import annotations

from typing import Any


class Objective:
    """``L_α = Σ_(batch, weight) in terms  weight · CE(batch)``; ``bilevel`` marks DARTS's pure validation loss."""

    name: str = ""
    terms: tuple[tuple[str, float], ...] = ()

    @property
    def needs_train_batch(self) -> bool:
        return any(batch == "train" for batch, _ in self.terms)

    @property
    def bilevel(self) -> bool:
        """Whether the objective is L_val alone (what second-order DARTS's unrolling assumes)."""
        return self.terms == (("val", 1.0),)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


class Bilevel(Objective):
    """DARTS: the α step minimizes the validation loss L_val(w, α) (docs/methods.md#darts)."""

    name = "bilevel"
    terms = (("val", 1.0),)


class MixedLevel(Objective):
    """MiLeNAS: ∇_α [L_train(w, α) + λ L_val(w, α)], both at the current weights (docs/methods.md#milenas)."""

    name = "mixed_level"

    def __init__(self, lam: float = 1.0) -> None:
        if lam < 0:
            raise ValueError(f"objective.lam={lam}: the weight of L_val must be >= 0 (MiLeNAS uses 1)")
        self.lam = float(lam)
        self.terms = (("train", 1.0), ("val", self.lam))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "lam": self.lam}
