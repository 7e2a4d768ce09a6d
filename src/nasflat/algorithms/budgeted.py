"""The loop shared by sampling algorithms (RS, REA and their neighborhood-aware variants): propose architectures,
score them, observe the scores, until the budget is spent; keep the best.

Budget accounting (``budget_unit``):
- ``candidates``: architectures proposed and scored (repeats count, as in NB201's RS/REA loops);
- ``evaluations``: architectures the underlying scorer actually evaluated (cache hits are free; with a
  neighborhood every neighbor counts), the fair unit when NA-RS's neighbors cost as much as RS's samples.
  A proposal that would overrun the budget is not scored and the search stops (as R-EA's time budget), except
  that the first candidate is always scored so that there is an answer.
Both counts are reported whatever the unit. One phase step = ``chunk`` budget units, checkpointed.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from typing import Any, Literal

import numpy as np

from nasflat.checkpoint import numpy_rng_state, set_numpy_rng_state
from nasflat.context import SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.neighborhood import Neighborhood
from nasflat.rng import Purpose
from nasflat.spaces.base import Arch, SearchSpace

BUDGET_UNITS = ("candidates", "evaluations")


class BudgetedSearch(ABC):
    """Phase ``search``. Subclasses implement ``propose(n)`` (up to n new archs) and may extend ``observe``."""

    name = "search"
    algo = "search"
    # NB201's search protocol (AutoDL get_nas_search_loaders): CIFAR-10's cifar-split.txt halves; random elsewhere
    official_split = "nb201"

    def __init__(
        self,
        ctx: SearchContext,
        evaluator: Evaluator | None,
        *,
        budget: int = 100,
        chunk: int = 25,
        budget_unit: Literal["candidates", "evaluations"] = "candidates",
        neighborhood: Neighborhood | None = None,
    ) -> None:
        if budget < 1 or chunk < 1:
            raise ValueError(f"algo.budget and algo.chunk must be >= 1, got {budget} and {chunk}")
        if budget_unit not in BUDGET_UNITS:
            raise ValueError(f"algo.budget_unit={budget_unit!r}: expected one of {', '.join(BUDGET_UNITS)}")
        if evaluator is None:
            raise ValueError(f"algo={self.algo} needs an evaluator (evaluator=benchmark|supernet|flatness|...)")
        if neighborhood is not None:
            evaluator = neighborhood.wrap(evaluator, seed=ctx.seed)  # a stream per arch: NeighborhoodEvaluator
        self.space: SearchSpace = ctx.space
        self.evaluator, self.budget, self.chunk, self.budget_unit = evaluator, budget, chunk, budget_unit
        self.neighborhood = neighborhood
        self.total_steps = math.ceil(budget / chunk)
        self.rng = np.random.default_rng(ctx.stream(Purpose.ARCH_SAMPLER))
        self.history: list[tuple[Arch, float]] = []
        self.done = False
        self.wall_time = 0.0

    # ---- what subclasses define ----------------------------------------------------------------------------------
    @abstractmethod
    def propose(self, n: int) -> list[Arch]:
        """Between 1 and ``n`` architectures to score next."""

    def observe(self, arch: Arch, score: float) -> None:
        self.history.append((arch, score))

    # ---- the loop ----------------------------------------------------------------------------------------------
    def _spent(self) -> int:
        return len(self.history) if self.budget_unit == "candidates" else self.evaluator.total_evaluations

    def _within_budget(self, archs: list[Arch]) -> list[Arch]:
        """The longest prefix of ``archs`` whose scoring keeps total evaluations within the budget."""
        left = self.budget - self.evaluator.total_evaluations
        needed: set[Arch] = set()
        for keep, a in enumerate(archs):
            more = needed.union(self.evaluator.requirements(a))
            if len(more) > left:
                return archs[: keep or (0 if self.history else 1)]  # the first candidate is always scored
            needed = more
        return archs

    def run_step(self, step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        target = min(self.budget, (step + 1) * self.chunk)
        free_rounds = 0  # guard for budgets in evaluations when every proposal is already cached
        while not self.done and self._spent() < target:
            archs = self.propose(target - self._spent())
            if self.budget_unit == "evaluations":
                archs = self._within_budget(archs)
                free_rounds = free_rounds + 1 if archs and self.evaluator.cost(archs) == 0 else 0
                if not archs or free_rounds > 100_000:
                    self.done = True
                    break
            for a, s in zip(archs, self.evaluator.score(archs)):
                self.observe(a, s)
        self.wall_time += time.perf_counter() - t0
        best, score = self.best()
        return {
            "candidates": len(self.history),
            "evaluations": self.evaluator.total_evaluations,
            "best_score": score,
            "best_arch": self.space.format(best),
        }

    def best(self) -> tuple[Arch, float]:
        """The highest-scoring architecture (first one on ties)."""
        i = int(np.argmax([s for _, s in self.history]))
        return self.history[i]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "candidates": len(self.history),
            "evaluations": self.evaluator.total_evaluations,
            "budget": self.budget,
            "budget_unit": self.budget_unit,
            "evaluator": self.evaluator.describe(),
            "wall_time_s": self.wall_time,
        }
        if self.neighborhood is not None:
            out["candidate_evaluations"] = self.evaluator.evaluations  # unique candidates aggregated
        return out

    # ---- checkpoint --------------------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook, not abstract
        """Subclass state written by ``extra_state``."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": numpy_rng_state(self.rng),
            "history": [[self.space.format(a), s] for a, s in self.history],
            "evaluator": self.evaluator.state_dict(),
            "wall_time": self.wall_time,
            "done": self.done,
            **self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_numpy_rng_state(self.rng, state["rng"])
        self.history = [(self.space.parse(a), float(s)) for a, s in state["history"]]
        self.evaluator.load_state_dict(state["evaluator"])
        self.wall_time = float(state["wall_time"])
        self.done = bool(state["done"])
        self.load_extra_state(state)
