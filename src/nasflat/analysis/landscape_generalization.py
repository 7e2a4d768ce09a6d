"""Does flatness generalize? Selection by valid accuracy, own or neighborhood-averaged, judged on test accuracy.

For every (selection dataset s, target dataset t): Kendall τ-b, Spearman ρ and top-k precision of a criterion
computed from s's *valid* column against t's *test* column, and the test accuracy on t of the architecture the
criterion ranks first. Criteria: the architecture's own valid accuracy, and the mean valid accuracy over its
radius-r ball, centre included (NA-NAS's neighborhood score). The diagonal s = t is the same-dataset table.
Also the cell topology (Shu et al.'s width and depth) against the metric.
docs/analysis.md#does-flatness-generalize
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasflat.analysis.landscape import ArchGrid, descending, neighborhood_mean
from nasflat.analysis.rank import kendall_tau, spearman_rho, top_k_precision
from nasflat.spaces.nb201 import DATASETS


@dataclass(frozen=True)
class Selection:
    criterion: str
    select: str  # dataset whose valid column feeds the criterion
    target: str  # dataset whose test column judges it
    tau: float
    rho: float
    precision: dict[int, float]  # k -> top-k precision
    chosen_row: int
    chosen_test: float
    best_test: float  # the oracle: the highest test accuracy on the target

    def as_dict(self, arch_index: np.ndarray) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "select": self.select,
            "target": self.target,
            "kendall_tau": self.tau,
            "spearman_rho": self.rho,
            **{f"top{k}_precision": p for k, p in self.precision.items()},
            "chosen_arch_index": int(arch_index[self.chosen_row]),
            "chosen_test": self.chosen_test,
            "best_test": self.best_test,
        }


def criteria(grid: ArchGrid, column: Callable[[str, str], np.ndarray], radius: int) -> dict[str, dict[str, np.ndarray]]:
    """criterion name -> dataset -> score per row."""
    own = {d: np.asarray(column(d, "valid"), dtype=np.float64) for d in DATASETS}
    return {
        "own valid": own,
        f"neighborhood valid (r<={radius}, centre incl.)": {
            d: neighborhood_mean(grid, own[d], radius) for d in DATASETS
        },
    }


def selections(
    grid: ArchGrid,
    column: Callable[[str, str], np.ndarray],
    arch_index: np.ndarray,
    radius: int = 1,
    ks: Sequence[int] = (10, 100),
) -> list[Selection]:
    """Every criterion × selection dataset × target dataset."""
    out = []
    for name, scores in criteria(grid, column, radius).items():
        for s in DATASETS:
            first = int(descending(scores[s], arch_index)[0])
            for t in DATASETS:
                test = np.asarray(column(t, "test"), dtype=np.float64)
                prec = {k: top_k_precision(scores[s], test, k) for k in ks if k <= len(test)}
                tau, rho = kendall_tau(scores[s], test), spearman_rho(scores[s], test)
                out.append(Selection(name, s, t, tau, rho, prec, first, float(test[first]), float(test.max())))
    return out


def topology_correlations(
    width: np.ndarray, depth: np.ndarray, value: np.ndarray
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """τ and ρ of width and depth with the metric, and the metric's mean per width / depth value."""
    corr = [
        {"feature": name, "kendall_tau": kendall_tau(x, value), "spearman_rho": spearman_rho(x, value)}
        for name, x in (("width", width), ("depth", depth))
    ]
    groups = []
    for name, x in (("width", width), ("depth", depth)):
        for level in np.unique(x):
            sel = value[x == level]
            groups.append({"feature": name, "value": float(level), "count": len(sel), "mean": float(sel.mean())})
    return corr, groups
