"""A sampling algorithm from outside nasflat: best-improvement local search (hill climbing) over 1-hop neighbours."""

from __future__ import annotations

from typing import Any, Literal

from nasflat.algorithms.budgeted import BudgetedSearch
from nasflat.context import SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.neighborhood import Neighborhood
from nasflat.spaces.base import Arch


class LocalSearch(BudgetedSearch):
    """Score a random architecture and all its neighbours; move to the best neighbour while it beats the centre,
    restart from a random architecture at a local optimum. Budget, chunks, checkpoints: BudgetedSearch's."""

    algo = "local_search"

    def __init__(
        self,
        ctx: SearchContext,
        evaluator: Evaluator | None,
        *,
        budget: int = 100,
        chunk: int = 25,
        budget_unit: Literal["candidates", "evaluations"] = "candidates",
        neighborhood: Neighborhood | None = None,  # NA-style scoring: each candidate with its neighbours
    ) -> None:
        super().__init__(ctx, evaluator, budget=budget, chunk=chunk, budget_unit=budget_unit, neighborhood=neighborhood)
        self.center: Arch | None = None
        self.todo: list[Arch] = []  # proposals not yet handed out

    def propose(self, n: int) -> list[Arch]:
        if not self.todo:  # every proposal so far is scored: climb or restart
            self._move()
        batch, self.todo = self.todo[:n], self.todo[n:]
        return batch

    def _move(self) -> None:
        scores = dict(self.history)
        if self.center is not None:
            best = max(self.space.neighbors(self.center), key=lambda a: scores.get(a, float("-inf")))
            if scores.get(best, float("-inf")) > scores[self.center]:
                self.center, self.todo = best, self.space.neighbors(best)
                return
        self.center = self.space.sample(self.rng)
        self.todo = [self.center, *self.space.neighbors(self.center)]

    def extra_state(self) -> dict[str, Any]:  # checkpointed with the history, so a resumed run climbs on
        center = None if self.center is None else self.space.format(self.center)
        return {"center": center, "todo": [self.space.format(a) for a in self.todo]}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.center = None if state["center"] is None else self.space.parse(state["center"])
        self.todo = [self.space.parse(a) for a in state["todo"]]
