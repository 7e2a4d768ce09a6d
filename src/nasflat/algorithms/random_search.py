"""Random search: sample architectures uniformly, score each with the evaluator, keep the best.

Budget = number of architectures evaluated (NB201's RS baseline, with a pluggable evaluator).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from nasflat.checkpoint import numpy_rng_state, set_numpy_rng_state
from nasflat.context import SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.spaces.base import Arch, SearchSpace


class RandomSearch:
    """Phase ``search``: ``budget`` uniform samples scored in chunks of ``chunk`` (one checkpoint per chunk)."""

    name = "search"

    def __init__(self, ctx: SearchContext, evaluator: Evaluator | None, *, budget: int = 100, chunk: int = 25) -> None:
        if budget < 1:
            raise ValueError(f"algo.budget must be >= 1, got {budget}")
        if evaluator is None:
            raise ValueError("algo=rs needs an evaluator (evaluator=benchmark|supernet|...)")
        self.space: SearchSpace = ctx.space
        self.evaluator, self.budget, self.chunk = evaluator, budget, chunk
        self.total_steps = math.ceil(budget / chunk)
        self.rng = np.random.default_rng(ctx.seed)
        self.history: list[tuple[Arch, float]] = []
        self.wall_time = 0.0

    def run_step(self, step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        n = min(self.chunk, self.budget - len(self.history))
        archs = [self.space.sample(self.rng) for _ in range(n)]
        self.history.extend(zip(archs, self.evaluator.score(archs)))
        self.wall_time += time.perf_counter() - t0
        best, score = self.best()
        return {
            "sampled": len(self.history),
            "evaluations": self.evaluator.evaluations,
            "best_score": score,
            "best_arch": self.space.format(best),
        }

    def best(self) -> tuple[Arch, float]:
        """The highest-scoring architecture (first one on ties)."""
        i = int(np.argmax([s for _, s in self.history]))
        return self.history[i]

    def summary(self) -> dict[str, Any]:
        return {
            "candidates": len(self.history),
            "evaluations": self.evaluator.evaluations,
            "evaluator": self.evaluator.describe(),
            "wall_time_s": self.wall_time,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": numpy_rng_state(self.rng),
            "history": [[self.space.format(a), s] for a, s in self.history],
            "evaluator": self.evaluator.state_dict(),
            "wall_time": self.wall_time,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_numpy_rng_state(self.rng, state["rng"])
        self.history = [(self.space.parse(a), float(s)) for a, s in state["history"]]
        self.evaluator.load_state_dict(state["evaluator"])
        self.wall_time = float(state["wall_time"])
