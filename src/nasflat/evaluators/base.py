"""Evaluators are pure scorers of architectures (higher is better), with a cache and an evaluation count.

An algorithm asks ``score(archs)`` for a batch; archs already scored come from the cache and are not counted
again, so budgets measured in evaluations are honest. Expensive evaluators (``parallel = True``) split the
uncached archs across ranks and gather the scores, so every rank ends with the same cache; in one process this
is a plain loop. A score must therefore be a function of the architecture alone (fixed data, fixed noise draws),
never of the order in which archs are scored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from nasflat import distributed
from nasflat.spaces.base import Arch, SearchSpace


class Evaluator(ABC):
    """Base class: subclasses implement ``_score_batch``; caching, counting and sharding live here."""

    name = "evaluator"
    needs_supernet = False
    parallel = False  # shard uncached archs across ranks (worth it only for evaluators that run networks)

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.cache: dict[Arch, float] = {}
        self.evaluations = 0

    def describe(self) -> dict[str, Any]:
        """What this evaluator measures, for results.json."""
        return {"name": self.name}

    @property
    def total_evaluations(self) -> int:
        """Evaluations of the underlying scorer (differs from ``evaluations`` only for wrappers)."""
        return self.evaluations

    def requirements(self, arch: Arch) -> list[Arch]:
        """The architectures the underlying scorer would newly evaluate to score ``arch`` now."""
        return [] if arch in self.cache else [arch]

    def cost(self, archs: Sequence[Arch]) -> int:
        """How many new evaluations scoring ``archs`` would take now (for budgets counted in evaluations)."""
        return len({r for a in archs for r in self.requirements(a)})

    def score(self, archs: Sequence[Arch]) -> list[float]:
        todo = list(dict.fromkeys(a for a in archs if a not in self.cache))
        if todo:
            for a, s in zip(todo, self._score_sharded(todo), strict=True):
                self.cache[a] = float(s)
            self.evaluations += len(todo)
        return [self.cache[a] for a in archs]

    def _score_sharded(self, todo: list[Arch]) -> list[float]:
        world = distributed.world_size()
        if not self.parallel or world == 1:
            return [float(s) for s in self._score_batch(todo)]
        mine = distributed.shard(todo)  # rank r scores todo[r::world], on its own: no collectives inside
        with distributed.rank_local():
            scores = [float(s) for s in self._score_batch(mine)] if mine else []
        parts = distributed.all_gather_objects(scores)
        out = [0.0] * len(todo)
        for r, part in enumerate(parts):
            out[r::world] = part
        return out

    @abstractmethod
    def _score_batch(self, archs: list[Arch]) -> list[float]:
        """Scores of architectures not yet in the cache."""

    def state_dict(self) -> dict[str, Any]:
        return {"cache": [[self.space.format(a), s] for a, s in self.cache.items()], "evaluations": self.evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cache = {self.space.parse(a): float(s) for a, s in state["cache"]}
        self.evaluations = int(state["evaluations"])
