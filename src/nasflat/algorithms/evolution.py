"""GeNAS / RLNAS evolution on the integer encoding (GeNAS ``evolution_search/search.py``; docs/methods.md#evolution).

Generation 0 is ``population`` random candidates. Each generation is scored, the running top-``select`` list
(over every candidate ever scored, best first, stable on ties) is updated, and the next generation is built from
it: ``mutations`` children (a uniform top-k parent, each mutable position redrawn uniformly over all ops with
probability ``mutation_prob``), ``crossovers`` children (two uniform top-k parents, each position from either with
probability 1/2), and random candidates for the rest. Children are repaired (DARTS: SPOS's rule, each node keeps
exactly two non-``none`` inputs) and must be new: a candidate is never scored twice. The answer is the top-1.

Encodings (``space.encoding()``): DARTS = GeNAS's 28 ints (14 normal + 14 reduce edges, op index into the 8 ops,
0 = no edge). By default only the normal cell mutates, as the official code (its loop covers positions 0..13);
``mutate_cells=all`` mutates both. NB201 = the 6 edge ops, no repair (every code is valid) — a faithful port of the
algorithm to NB201, which GeNAS did not release. Defaults are the official ones: 20 generations x 50, top-10,
25 + 25, p = 0.1 (1,000 candidates). As in the official loops, mutation retries until it has its children (at most
100 tries per child here) and crossover gives up after 10 * (crossovers + 1) tries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from nasflat.checkpoint import numpy_rng_state, set_numpy_rng_state
from nasflat.context import SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.neighborhood import Neighborhood
from nasflat.rng import Purpose
from nasflat.spaces.base import Arch, IntEncoding, SearchSpace

Code = tuple[int, ...]


class Evolution:
    """Phase ``search``: one step = one generation (scored, top-k updated, next generation built), checkpointed."""

    name = "search"
    # GeNAS get_nas_search_loaders: NB201's cifar-split.txt on CIFAR-10 (its CIFAR-100 file is its own random split)
    official_split = "nb201"

    def __init__(
        self,
        ctx: SearchContext,
        evaluator: Evaluator | None,
        *,
        generations: int = 20,
        population: int = 50,
        select: int = 10,
        mutations: int = 25,
        crossovers: int = 25,
        mutation_prob: float = 0.1,
        mutate_cells: Literal["normal", "all"] = "normal",
        neighborhood: Neighborhood | None = None,
    ) -> None:
        if evaluator is None:
            raise ValueError("the evolution needs an evaluator (evaluator=flatness|supernet|angle|...)")
        if min(generations, population, select) < 1 or min(mutations, crossovers) < 0:
            raise ValueError("algo.generations, population, select must be >= 1 and mutations, crossovers >= 0")
        if mutations + crossovers > population:
            raise ValueError(f"algo.mutations + algo.crossovers ({mutations + crossovers}) exceed the population")
        if not 0.0 <= mutation_prob <= 1.0:
            raise ValueError(f"algo.mutation_prob must be in [0, 1], got {mutation_prob}")
        if mutate_cells not in ("normal", "all"):
            raise ValueError(f"algo.mutate_cells={mutate_cells!r}: expected 'normal' (official) or 'all'")
        self.space: SearchSpace = ctx.space
        self.code: IntEncoding = self.space.encoding()  # refuses a space without a GA code, naming it
        if neighborhood is not None:
            evaluator = neighborhood.wrap(evaluator, seed=ctx.seed)
        self.evaluator, self.neighborhood = evaluator, neighborhood
        self.total_steps = generations
        self.population, self.select = population, select
        self.mutations, self.crossovers, self.mutation_prob = mutations, crossovers, mutation_prob
        self.mutate_cells = mutate_cells
        first, last = self.code.cells[0] if mutate_cells == "normal" else (0, self.code.length)
        self.mutable = range(first, last)
        self.rng = np.random.default_rng(ctx.stream(Purpose.ARCH_SAMPLER))
        self.candidates: list[Code] = []  # the generation to score next
        self.visited: set[Code] = set()
        self.top: list[tuple[Code, float]] = []
        self.history: list[tuple[Code, float, int]] = []  # (code, score, generation)
        self.wall_time = 0.0

    # ---- codes -------------------------------------------------------------------------------------------------
    def decode(self, code: Code) -> Arch:
        return self.space.validate(list(code))

    def _repair(self, code: list[int]) -> Code:
        if self.code.repair is not None:
            for a, b in self.code.cells:
                code[a:b] = self.code.repair(code[a:b], self.rng, self.code.num_ops)
        return tuple(int(v) for v in code)

    def _random(self) -> Code:
        return self._repair(self.rng.integers(self.code.num_ops, size=self.code.length).tolist())

    def _mutant(self) -> Code:
        code = list(self.top[int(self.rng.integers(len(self.top)))][0])
        for i in self.mutable:
            if self.rng.random() < self.mutation_prob:
                code[i] = int(self.rng.integers(self.code.num_ops))
        return self._repair(code)

    def _child(self) -> Code:
        p1 = self.top[int(self.rng.integers(len(self.top)))][0]
        p2 = self.top[int(self.rng.integers(len(self.top)))][0]
        return self._repair([a if self.rng.integers(2) == 0 else b for a, b in zip(p1, p2)])

    def _new(self, make: Callable[[], Code], n: int, tries: int) -> list[Code]:
        """Up to ``n`` codes never seen before, within ``tries`` attempts; marks them visited."""
        out: list[Code] = []
        while len(out) < n and tries > 0:
            tries -= 1
            code = make()
            if code not in self.visited:
                self.visited.add(code)
                out.append(code)
        return out

    def _next_generation(self) -> list[Code]:
        mutants = self._new(self._mutant, self.mutations, 100 * self.mutations)
        children = self._new(self._child, self.crossovers, 10 * (self.crossovers + 1))
        rest = self.population - len(mutants) - len(children)
        return mutants + children + self._new(self._random, rest, 1000 * max(rest, 1))

    # ---- the phase ---------------------------------------------------------------------------------------------
    def run_step(self, step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        if step == 0 and not self.candidates:
            self.candidates = self._new(self._random, self.population, 1000 * self.population)
        scores = self.evaluator.score([self.decode(c) for c in self.candidates])
        scored = list(zip(self.candidates, scores))
        self.history += [(c, s, step) for c, s in scored]
        self.top = sorted(self.top + scored, key=lambda cs: cs[1], reverse=True)[: self.select]
        self.candidates = self._next_generation() if step + 1 < self.total_steps else []
        self.wall_time += time.perf_counter() - t0
        arch, score = self.best()
        return {
            "generation": step + 1,
            "candidates": len(self.history),
            "evaluations": self.evaluator.total_evaluations,
            "generation_best": max(scores) if scores else float("nan"),
            "best_score": score,
            "best_arch": self.space.format(arch),
        }

    def best(self) -> tuple[Arch, float]:
        code, score = self.top[0]
        return self.decode(code), score

    def summary(self) -> dict[str, Any]:
        return {
            "candidates": len(self.history),
            "evaluations": self.evaluator.total_evaluations,
            "generations": self.total_steps,
            "population": self.population,
            "select": self.select,
            "mutate_cells": self.mutate_cells,
            "evaluator": self.evaluator.describe(),
            "top": [{"arch": self.space.format(self.decode(c)), "code": list(c), "score": s} for c, s in self.top],
            "wall_time_s": self.wall_time,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": numpy_rng_state(self.rng),
            "candidates": [list(c) for c in self.candidates],
            "visited": sorted(list(c) for c in self.visited),
            "top": [[list(c), s] for c, s in self.top],
            "history": [[list(c), s, g] for c, s, g in self.history],
            "evaluator": self.evaluator.state_dict(),
            "wall_time": self.wall_time,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_numpy_rng_state(self.rng, state["rng"])
        self.candidates = [tuple(c) for c in state["candidates"]]
        self.visited = {tuple(c) for c in state["visited"]}
        self.top = [(tuple(c), float(s)) for c, s in state["top"]]
        self.history = [(tuple(c), float(s), int(g)) for c, s, g in state["history"]]
        self.evaluator.load_state_dict(state["evaluator"])
        self.wall_time = float(state["wall_time"])
