"""Random search (NB201's RS baseline, with a pluggable evaluator) and NA-RS.

RS samples architectures uniformly (the space's sampling rule) and keeps the best by the evaluator's score. NA-RS is
the same search with a neighborhood-aggregating scorer (``neighborhood=...``, see ``evaluators.neighborhood``); the
budget is counted in candidates or in evaluations (``algorithms.budgeted``).
"""

from __future__ import annotations

from nasflat.algorithms.budgeted import BudgetedSearch
from nasflat.spaces.base import Arch


class RandomSearch(BudgetedSearch):
    """Phase ``search``: uniform samples scored in chunks of ``chunk`` (one checkpoint per chunk)."""

    algo = "rs"

    def propose(self, n: int) -> list[Arch]:
        return [self.space.sample(self.rng) for _ in range(n)]
