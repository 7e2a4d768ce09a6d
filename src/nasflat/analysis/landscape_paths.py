"""Barriers between two NB201 architectures along shortest Hamming paths.

A shortest path from a to b switches the d differing edges to b's ops one at a time (d! orders). Its drop is how
far the metric falls below the worse endpoint on the way: max(0, min(v_a, v_b) − min over intermediates). Our
barrier is the smallest drop over all d! paths (a minimax path, found by dynamic programming over the 2^d subsets
of switched edges), reported with that path. A²M's barrier (AsquaredM profile_nasbench.py compute_barrier) is
½(v_a + v_b) − the minimum over every intermediate of every shortest path.
docs/analysis.md#barriers-between-architectures
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nasflat.analysis.landscape import ArchGrid

# AsquaredM profile_nasbench.py get_archs: pairs of NB201 indices at distance 3 with similar test accuracy,
# qualities "A" (good), "B" (average), "C" (poor).
A2M_PAIRS: dict[str, dict[str, tuple[int, int]]] = {
    "cifar10": {"A": (81, 1459), "B": (0, 163), "C": (40, 12094)},
    "cifar100": {"A": (81, 11711), "B": (31, 7680), "C": (146, 4461)},
    "imagenet16_120": {"A": (65, 2246), "B": (17, 5845), "C": (2, 348)},
}


@dataclass(frozen=True)
class Barrier:
    a: int  # row of the first endpoint
    b: int
    distance: int
    barrier: float  # ours: the smallest drop below the worse endpoint over all shortest paths (NaN: no full path)
    path: tuple[int, ...]  # rows from a to b along the path that attains it
    a2m_barrier: float  # ½(v_a + v_b) − min over all intermediates of all shortest paths (NaN when d <= 1)
    level_means: tuple[float, ...]  # mean over all shortest paths of the ℓ-th architecture, ℓ = 0..d (A²M's curve)


def _states(grid: ArchGrid, a: int, b: int) -> tuple[list[int], np.ndarray]:
    """The differing edges and the row of every intermediate state (bit i set: edge diff[i] switched to b's op)."""
    oa, ob = grid.ops[a], grid.ops[b]
    diff = [e for e in range(len(oa)) if oa[e] != ob[e]]
    ops = np.repeat(oa[None], 1 << len(diff), axis=0)
    for mask in range(1 << len(diff)):
        for i, e in enumerate(diff):
            if mask >> i & 1:
                ops[mask, e] = ob[e]
    return diff, grid.rows(ops)


def barrier(grid: ArchGrid, value: np.ndarray, a: int, b: int) -> Barrier:
    """Our minimax barrier and A²M's barrier between rows ``a`` and ``b`` (absent intermediates are impassable)."""
    diff, rows = _states(grid, a, b)
    d, full = len(diff), (1 << len(diff)) - 1
    v = np.where(rows >= 0, value[np.maximum(rows, 0)], np.nan)
    worse = min(value[a], value[b])
    # best[S]: the highest possible minimum over the states strictly after a up to S (inclusive unless S is b)
    best = np.full(1 << d, -np.inf)
    best[0] = np.inf
    came = np.zeros(1 << d, dtype=np.int64)
    for mask in range(1, 1 << d):
        here = np.inf if mask == full else (v[mask] if not np.isnan(v[mask]) else -np.inf)
        for i in range(d):
            if mask >> i & 1 and min(best[mask ^ (1 << i)], here) > best[mask]:
                best[mask], came[mask] = min(best[mask ^ (1 << i)], here), mask ^ (1 << i)
    path, mask = [b], full
    while mask:
        mask = int(came[mask])
        path.append(int(rows[mask]))
    passable = best[full] > -np.inf  # some path avoids every absent intermediate
    ours = 0.0 if d <= 1 else (max(0.0, worse - best[full]) if passable else float("nan"))
    inner = v[1:full]  # every intermediate of every shortest path (none when d <= 1: A²M's barrier is undefined)
    low = float(np.nanmin(inner)) if d > 1 and not np.isnan(inner).all() else float("nan")
    sizes = np.array([bin(m).count("1") for m in range(1 << d)])
    levels = tuple(float(np.nanmean(v[sizes == k])) for k in range(d + 1))
    route = tuple(path[::-1]) if passable else ()
    return Barrier(a, b, d, float(ours), route, 0.5 * (value[a] + value[b]) - low, levels)


def pairwise_barriers(grid: ArchGrid, value: np.ndarray, rows: Sequence[int]) -> list[Barrier]:
    """Barriers between every pair i < j of ``rows`` (e.g. the top-k architectures)."""
    return [barrier(grid, value, int(rows[i]), int(rows[j])) for i in range(len(rows)) for j in range(i + 1, len(rows))]
