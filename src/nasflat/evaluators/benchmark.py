"""Tabular-benchmark evaluator: one explicitly named NB201 column (dataset + split), no aliasing."""

from __future__ import annotations

from typing import Any

from nasflat.benchmarks.nb201 import NB201Table
from nasflat.context import SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.spaces.base import Arch


class BenchmarkEvaluator(Evaluator):
    """Score = the table's accuracy (%) of ``dataset``/``split`` (e.g. CIFAR-10 valid, as NB201's RS selects)."""

    name = "benchmark"

    def __init__(self, ctx: SearchContext, *, dataset: str = "cifar10", split: str = "valid") -> None:
        space, table = ctx.space, ctx.table
        super().__init__(space)
        if space.name != "nb201":
            raise ValueError(f"evaluator=benchmark needs space=nb201 (the tabular benchmark); got space={space.name}")
        if table is None:
            raise ValueError(
                "evaluator=benchmark needs the NB201 table: set benchmark.nb201_table=PATH (or the env var "
                "NASFLAT_NB201_TABLE); build one with `nasflat bench import` (see README, 'NB201 table')"
            )
        table.column(dataset, split)  # raises for unknown dataset/split names
        self.table: NB201Table = table
        self.dataset, self.split = dataset, split

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "dataset": self.dataset, "split": self.split}

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        return [self.table.query(a, self.dataset, self.split) for a in archs]
