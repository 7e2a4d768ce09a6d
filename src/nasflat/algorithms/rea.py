"""Regularized (aging) evolution, Real et al. 2019 Algorithm 1, as NB201's R-EA runs it (AutoDL ``R_EA.py``),
and NA-REA (the same with a neighborhood-aggregating scorer, ``neighborhood=...``); docs/methods.md#rea.

Fill a population of ``population`` random architectures; then each cycle draws ``sample_size`` members uniformly
*with replacement*, mutates the best of them (first on ties) by one hop, scores the child, appends it and removes the
oldest member. The answer is the best architecture ever scored. NB201 defaults: population 10, sample size 10.
``mutation=auto`` uses the space's reference operator (``space.reference_mutation``; NB201: AutoDL's ``by_node``,
a random node, then one of its input edges, then a different op); ``uniform`` draws uniformly over the 1-hop
neighbors; a space lists what it offers in ``space.mutation_schemes``. R-EA's simulated time budget is replaced by
a budget in candidates or evaluations (``algorithms.budgeted``).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from nasflat.algorithms.budgeted import BudgetedSearch
from nasflat.context import SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.neighborhood import Neighborhood
from nasflat.spaces.base import Arch


class RegularizedEvolution(BudgetedSearch):
    """Phase ``search``: aging evolution, ``chunk`` budget units per checkpointed step."""

    algo = "rea"

    def __init__(
        self,
        ctx: SearchContext,
        evaluator: Evaluator | None,
        *,
        budget: int = 100,
        chunk: int = 25,
        budget_unit: Literal["candidates", "evaluations"] = "candidates",
        population: int = 10,
        sample_size: int = 10,
        mutation: Literal["auto", "uniform", "by_node"] = "auto",  # any scheme a space offers; checked below
        neighborhood: Neighborhood | None = None,
    ) -> None:
        super().__init__(ctx, evaluator, budget=budget, chunk=chunk, budget_unit=budget_unit, neighborhood=neighborhood)
        if population < 1 or sample_size < 1:
            raise ValueError(f"algo.population and algo.sample_size must be >= 1, got {population}, {sample_size}")
        offered = self.space.mutation_schemes
        if mutation != "auto" and mutation not in offered:
            raise ValueError(
                f"algo.mutation={mutation!r} is not offered by space {self.space.name}; choose auto (the space's "
                f"reference, {self.space.reference_mutation}) or one of {', '.join(offered)}"
            )
        self.population_size, self.sample_size = population, sample_size
        self.mutation = self.space.reference_mutation if mutation == "auto" else mutation
        self.population: deque[tuple[Arch, float]] = deque()

    def propose(self, n: int) -> list[Arch]:
        if len(self.population) < self.population_size:  # the random initial population
            return [self.space.sample(self.rng) for _ in range(min(n, self.population_size - len(self.population)))]
        members = list(self.population)
        sample = [members[int(self.rng.integers(len(members)))] for _ in range(self.sample_size)]
        parent = max(sample, key=lambda m: m[1])[0]
        return [self.space.mutate(parent, self.rng, scheme=self.mutation)]

    def observe(self, arch: Arch, score: float) -> None:
        super().observe(arch, score)
        self.population.append((arch, score))
        if len(self.population) > self.population_size:
            self.population.popleft()

    def summary(self) -> dict[str, Any]:
        return {
            **super().summary(),
            "population": self.population_size,
            "sample_size": self.sample_size,
            "mutation": self.mutation,
        }

    def extra_state(self) -> dict[str, Any]:
        return {"population": [[self.space.format(a), s] for a, s in self.population]}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.population = deque((self.space.parse(a), float(s)) for a, s in state["population"])
