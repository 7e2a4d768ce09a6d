"""Geometry of the NB201 architecture space from the benchmark table alone (no training).

Architectures are rows of an (R, 6) op-index matrix; the Hamming neighbors of every row at radius r are found by
adding the C(6, r)·4^r non-zero op shifts (mod 5) and looking the base-5 codes up in a 5^6 array, so neighborhood
statistics over all 15,625 × 1,544 pairs are a few numpy gathers. A missing architecture (a partial table) is
skipped and counted. docs/analysis.md#architecture-space-landscape-analyze-landscape
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nasflat.algorithms.differentiable.arch_grads import neighborhood_sizes
from nasflat.spaces.nb201 import EDGES, OPS

NUM_EDGES, NUM_OPS = len(EDGES), len(OPS)
RADII: tuple[int, ...] = (1, 2, 3)
_PLACE = NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1)  # edge 0 is the most significant base-5 digit


def neighbor_count(radius: int) -> int:
    """Architectures at Hamming distance exactly ``radius`` in the full space: C(6, r)·4^r (NA-DARTS's count)."""
    return neighborhood_sizes(NUM_EDGES, NUM_OPS, radius)[-1] if radius else 1


def shifts(radius: int) -> np.ndarray:
    """(C(6,r)·4^r, 6) op shifts with exactly ``radius`` non-zero entries: ``(ops + shift) % 5`` is a neighbor."""
    out = []
    for edges in itertools.combinations(range(NUM_EDGES), radius):
        for deltas in itertools.product(range(1, NUM_OPS), repeat=radius):
            row = [0] * NUM_EDGES
            for e, d in zip(edges, deltas):
                row[e] = d
            out.append(row)
    return np.array(out, dtype=np.int64).reshape(-1, NUM_EDGES)


@dataclass(frozen=True)
class ArchGrid:
    """Table rows as op vectors with a code -> row lookup (-1 where the table lacks that architecture)."""

    ops: np.ndarray  # (R, 6) int64
    row_of: np.ndarray = field(repr=False)  # (5^6,) int64

    @classmethod
    def from_ops(cls, ops: Sequence[Sequence[int]]) -> ArchGrid:
        ops = np.asarray(ops, dtype=np.int64).reshape(-1, NUM_EDGES)
        row_of = np.full(NUM_OPS**NUM_EDGES, -1, dtype=np.int64)
        row_of[ops @ _PLACE] = np.arange(len(ops))
        return cls(ops, row_of)

    def __len__(self) -> int:
        return len(self.ops)

    def rows(self, ops: np.ndarray) -> np.ndarray:
        """Row of each op vector in ``ops`` (..., 6); -1 where absent."""
        return self.row_of[np.asarray(ops, dtype=np.int64) @ _PLACE]

    def neighbor_rows(self, centres: np.ndarray, radius: int) -> np.ndarray:
        """(len(centres), C(6,r)·4^r) rows of the architectures at distance exactly ``radius`` (-1: absent).

        Codes are built edge by edge: shifting edge e from op o by δ changes the code by ((o+δ)%5 − o)·5^(5−e),
        a (5, 5) table per edge, so each edge costs one gather instead of an (n, M, 6) integer product.
        """
        ops, sh = self.ops[centres], shifts(radius)
        code = (ops @ _PLACE)[:, None] + np.zeros(len(sh), dtype=np.int64)[None, :]
        o, d = np.arange(NUM_OPS)[:, None], np.arange(NUM_OPS)[None, :]
        for e in range(NUM_EDGES):
            if sh[:, e].any():
                code += (((o + d) % NUM_OPS - o) * _PLACE[e])[ops[:, e]][:, sh[:, e]]
        return self.row_of[code]


@dataclass(frozen=True)
class Values:
    """The metric per row, and how neighbors are counted: with ``classes`` (isomorphism class per row),
    neighbors are de-duplicated by class, the centre's own class is dropped and each class counts with
    ``rep_value`` (the value of its lowest-arch_index member)."""

    value: np.ndarray  # (R,) float64
    classes: np.ndarray | None = None  # (R,) int64 class ids
    rep_value: np.ndarray | None = None  # (n_classes,) float64

    @classmethod
    def dedup(cls, value: np.ndarray, keys: Sequence[str], arch_index: np.ndarray) -> Values:
        """Classes from the canonical key of each row; a class's value is its lowest-``arch_index`` member's."""
        uniq, classes = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
        order = np.lexsort((arch_index, classes))  # by class, then arch_index
        first = order[np.r_[True, classes[order][1:] != classes[order][:-1]]]
        rep = np.empty(len(uniq))
        rep[classes[first]] = value[first]
        return cls(np.asarray(value, dtype=np.float64), classes, rep)

    def neighbor_values(self, centres: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(values, mask) for neighbor ``rows`` (n, M) of ``centres``: mask False for absent / duplicate cells."""
        present = rows >= 0
        if self.classes is None:
            return np.where(present, self.value[np.where(present, rows, 0)], np.nan), present
        cls_ = np.where(present, self.classes[np.where(present, rows, 0)], -1)
        cls_[cls_ == self.classes[centres][:, None]] = -1  # a cell identical to the centre is not a neighbor
        cls_.sort(axis=1)
        first = np.ones_like(cls_, dtype=bool)
        first[:, 1:] = cls_[:, 1:] != cls_[:, :-1]
        mask = first & (cls_ >= 0)
        return np.where(mask, self.rep_value[np.maximum(cls_, 0)], np.nan), mask

    def population(self) -> np.ndarray:
        """The whole-table distribution (one value per class when de-duplicated)."""
        return self.value if self.rep_value is None else self.rep_value


STATS = ("mean", "std", "min", "max", "count")


def masked_stats(values: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Row-wise mean, population std (ddof 0, as A²M's np.std), min, max and count over ``mask``."""
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        filled = np.where(mask, values, 0.0)
        mean = filled.sum(axis=1) / count
        var = np.where(mask, (values - mean[:, None]) ** 2, 0.0).sum(axis=1) / count
    lo = np.where(mask, values, np.inf).min(axis=1)
    hi = np.where(mask, values, -np.inf).max(axis=1)
    empty = count == 0
    lo[empty], hi[empty] = np.nan, np.nan
    return {"mean": mean, "std": np.sqrt(var), "min": lo, "max": hi, "count": count}


def neighborhood_stats(grid: ArchGrid, values: Values, radius: int, chunk: int = 2048) -> dict[str, np.ndarray]:
    """For every row: mean/std/min/max/count of the metric over the architectures at distance exactly ``radius``."""
    parts = []
    for start in range(0, len(grid), chunk):
        centres = np.arange(start, min(start + chunk, len(grid)))
        parts.append(masked_stats(*values.neighbor_values(centres, grid.neighbor_rows(centres, radius))))
    return {k: np.concatenate([p[k] for p in parts]) for k in STATS}


def neighborhood_mean(grid: ArchGrid, value: np.ndarray, radius: int = 1, include_centre: bool = True) -> np.ndarray:
    """Mean of the metric over the ball of ``radius`` (NA-NAS's neighborhood score; centre included by default)."""
    total = np.where(include_centre, value, 0.0).astype(np.float64)
    count = np.full(len(grid), int(include_centre), dtype=np.int64)
    plain = Values(value)
    for r in range(1, radius + 1):
        s = neighborhood_stats(grid, plain, r)
        total = total + np.nan_to_num(s["mean"] * s["count"])
        count = count + s["count"]
    return total / count


def describe(x: np.ndarray) -> dict[str, float]:
    """Mean, population std, min, max and count of a 1-D array."""
    x = np.asarray(x, dtype=np.float64)
    return {
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "count": len(x),
    }


# ---- reference architectures and radius curves ------------------------------------------------------------------
# A²M's marks per dataset: (the space's "average" accuracy, the "bad" accuracy); AsquaredM profile_nasbench.py
# get_targets_acc (commit 5a303f9). docs/analysis.md#reference-models
A2M_MARKS: dict[str, tuple[float, float]] = {
    "cifar10": (85.0, 75.0),
    "cifar100": (65.0, 55.0),
    "imagenet16_120": (35.0, 25.0),
}


def descending(value: np.ndarray, arch_index: np.ndarray) -> np.ndarray:
    """Rows by decreasing value, ties by decreasing arch_index: A²M's ``reversed(sorted(zip(acc, idx)))`` order."""
    return np.lexsort((arch_index, value))[::-1]


def reference_rows(value: np.ndarray, arch_index: np.ndarray, marks: tuple[float, float]) -> dict[str, int]:
    """A²M's three reference models (rank_by_test_acc): the best, then, scanning down from the best, the first
    architecture strictly below each mark, i.e. the best one below it (not the first in benchmark-index order)."""
    order = descending(value, arch_index)
    out = {"best": int(order[0])}
    for name, mark in zip(("below_average_mark", "below_bad_mark"), marks):
        below = order[value[order] < mark]
        if not len(below):
            raise ValueError(f"no architecture has a value below {mark}; the marks do not fit this metric")
        out[name] = int(below[0])
    return out


def radius_profile(
    grid: ArchGrid, values: Values, row: int, radii: Sequence[int] = RADII
) -> tuple[dict[str, list[float]], list[np.ndarray]]:
    """Statistics of the metric at r = 0 (the architecture itself) and each radius, plus the neighbor values."""
    own = float(values.value[row])
    stats: dict[str, list[float]] = {"mean": [own], "std": [0.0], "min": [own], "max": [own], "count": [1.0]}
    samples = []
    centre = np.array([row])
    for r in radii:
        vals, mask = values.neighbor_values(centre, grid.neighbor_rows(centre, r))
        s = masked_stats(vals, mask)
        for k in STATS:
            stats[k].append(float(s[k][0]))
        samples.append(vals[mask])
    return stats, samples
