"""Tabular-benchmark evaluator: one explicitly named NB201 column (dataset + split), no aliasing."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from nasflat.benchmarks.nb201 import NB201Table
from nasflat.context import SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.rng import Purpose, stream_seed
from nasflat.spaces.base import Arch
from nasflat.spaces.nb201 import Dataset


class BenchmarkEvaluator(Evaluator):
    """Score = the table's accuracy (%) of ``dataset``/``split`` (e.g. CIFAR-10 valid, as NB201's RS selects).

    ``noise_std`` > 0 adds Gaussian noise (percentage points) to mimic a cheap, noisy proxy (a supernet or a short
    training run) at table speed: the noise of an architecture is drawn once from (seed, table row), so it is a
    fixed property of the arch within a run (as one training run would be) and changes with the seed.
    """

    name = "benchmark"

    def __init__(
        self,
        ctx: SearchContext,
        *,
        dataset: Dataset = "cifar10",
        split: Literal["valid", "test"] = "valid",
        noise_std: float = 0.0,
        noise_seed: int | None = None,
    ) -> None:
        space, table = ctx.space, ctx.table
        super().__init__(space)
        if table is None or not table.covers(space):
            raise ValueError(
                f"evaluator=benchmark needs a tabular benchmark of space={space.name}; only NB201 has one: use "
                "space=nb201 and set benchmark.nb201_table=PATH (or the env var NASFLAT_NB201_TABLE); build one with "
                "`nasflat bench import` (see README, 'NB201 table')"
            )
        table.column(dataset, split)  # raises for unknown dataset/split names
        if noise_std < 0:
            raise ValueError(f"evaluator.noise_std must be >= 0, got {noise_std}")
        self.table: NB201Table = table
        self.dataset, self.split = dataset, split
        self.noise_std = float(noise_std)
        self.noise_seed = ctx.seed if noise_seed is None else int(noise_seed)  # root of the per-row streams

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dataset": self.dataset, "split": self.split}
        if self.noise_std:
            out.update(noise_std=self.noise_std, noise_seed=self.noise_seed)
        return out

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        scores = [self.table.query(a, self.dataset, self.split) for a in archs]
        if self.noise_std:
            rows = [self.table.row(a) for a in archs]
            scores = [s + self.noise_std * self._unit_noise(r) for s, r in zip(scores, rows)]
        return scores

    def _unit_noise(self, row: int) -> float:
        """One N(0, 1) draw from the stream of (noise root, table row)."""
        rng = np.random.default_rng(stream_seed(self.noise_seed, Purpose.BENCHMARK_NOISE, int(row)))
        return float(rng.standard_normal())
