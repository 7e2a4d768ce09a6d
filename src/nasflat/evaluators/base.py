"""Evaluators are pure scorers of architectures (higher is better), with a cache and an evaluation count.

An algorithm asks ``score(archs)`` for a batch; archs already scored come from the cache and are not counted
again, so budgets measured in evaluations are honest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from nasflat.spaces.base import Arch, SearchSpace


class Evaluator(ABC):
    """Base class: subclasses implement ``_score_batch``; caching and counting live here."""

    name = "evaluator"
    needs_supernet = False

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.cache: dict[Arch, float] = {}
        self.evaluations = 0

    def describe(self) -> dict[str, Any]:
        """What this evaluator measures, for results.json."""
        return {"name": self.name}

    def score(self, archs: Sequence[Arch]) -> list[float]:
        todo = list(dict.fromkeys(a for a in archs if a not in self.cache))
        if todo:
            for a, s in zip(todo, self._score_batch(todo), strict=True):
                self.cache[a] = float(s)
            self.evaluations += len(todo)
        return [self.cache[a] for a in archs]

    @abstractmethod
    def _score_batch(self, archs: list[Arch]) -> list[float]:
        """Scores of architectures not yet in the cache."""

    def state_dict(self) -> dict[str, Any]:
        return {"cache": [[self.space.format(a), s] for a, s in self.cache.items()], "evaluations": self.evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cache = {self.space.parse(a): float(s) for a, s in state["cache"]}
        self.evaluations = int(state["evaluations"])
