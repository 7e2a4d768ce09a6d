"""Do good NB201 architectures cluster? Exact Hamming-distance distributions, no sampling.

The top q % of the table by the metric are compared with all pairs of the table: the distribution of pairwise
distances (exact over all R(R-1)/2 pairs, in chunks) and the fraction of top architectures that have another top
architecture within radius r, against its exact expectation for a uniformly random subset of the same size.
docs/analysis.md#clustering-of-good-architectures
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from nasflat.analysis.landscape import NUM_EDGES, ArchGrid, descending


def top_rows(value: np.ndarray, arch_index: np.ndarray, q: float) -> np.ndarray:
    """The ceil(q % · R) best rows (ties at the cut broken by A²M's order: higher arch_index first)."""
    k = max(1, math.ceil(q / 100.0 * len(value)))
    return descending(value, arch_index)[:k]


def distance_histogram(ops: np.ndarray) -> np.ndarray:
    """Counts of unordered pairs i < j at each Hamming distance 0..6 among the rows of ``ops``, exactly.

    For every edge subset K, A(K) = Σ over op patterns on K of (rows with that pattern)² counts the ordered pairs
    that agree at least on K; Möbius inversion over supersets gives the pairs that agree exactly on J, i.e. are at
    distance 6 − |J|. 64 bincounts instead of R²/2 comparisons.
    """
    ops = np.asarray(ops, dtype=np.int64)
    n_sub = 1 << NUM_EDGES
    at_least = np.zeros(n_sub, dtype=np.float64)
    for k in range(n_sub):
        cols = [e for e in range(NUM_EDGES) if k >> e & 1]
        code = ops[:, cols] @ (5 ** np.arange(len(cols))) if cols else np.zeros(len(ops), dtype=np.int64)
        at_least[k] = float((np.bincount(code).astype(np.float64) ** 2).sum())
    sizes = np.array([bin(k).count("1") for k in range(n_sub)])
    exact = np.zeros(n_sub)
    for j in range(n_sub):
        supersets = [k for k in range(n_sub) if k & j == j]
        exact[j] = sum((-1) ** (sizes[k] - sizes[j]) * at_least[k] for k in supersets)
    ordered = np.zeros(NUM_EDGES + 1)
    np.add.at(ordered, NUM_EDGES - sizes, exact)
    ordered[0] -= len(ops)  # the pairs (i, i)
    return np.rint(ordered / 2).astype(np.int64)


def _log_comb(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    return gammaln(np.asarray(n) + 1.0) - gammaln(np.asarray(k) + 1.0) - gammaln(np.asarray(n) - np.asarray(k) + 1.0)


def within_counts(grid: ArchGrid, radii: tuple[int, ...]) -> dict[int, np.ndarray]:
    """For each radius r: how many other rows of the table lie within r of each row (distance 1..r)."""
    exact = {r: np.zeros(len(grid), dtype=np.int64) for r in range(1, max(radii) + 1)}
    for start in range(0, len(grid), 1024):
        centres = np.arange(start, min(start + 1024, len(grid)))
        for r in exact:
            exact[r][centres] = (grid.neighbor_rows(centres, r) >= 0).sum(axis=1)
    return {r: sum(exact[i] for i in range(1, r + 1)) for r in radii}


@dataclass(frozen=True)
class Clustering:
    q: float
    size: int
    top_hist: np.ndarray  # pairs among the top set per distance 0..6
    all_hist: np.ndarray  # pairs of the whole table per distance 0..6
    near: dict[int, float]  # r -> fraction of top rows with another top row within r
    near_random: dict[int, float]  # r -> the same fraction expected for a uniformly random subset of that size

    def as_dict(self) -> dict[str, object]:
        return {
            "q_percent": self.q,
            "size": self.size,
            "top_pairs_by_distance": self.top_hist.tolist(),
            "all_pairs_by_distance": self.all_hist.tolist(),
            "mean_distance_top": mean_distance(self.top_hist),
            "mean_distance_all": mean_distance(self.all_hist),
            "fraction_with_top_neighbor": {str(r): v for r, v in self.near.items()},
            "fraction_with_top_neighbor_random": {str(r): v for r, v in self.near_random.items()},
        }


def mean_distance(hist: np.ndarray) -> float:
    return float((np.arange(len(hist)) * hist).sum() / hist.sum())


def clustering(
    grid: ArchGrid, value: np.ndarray, arch_index: np.ndarray, q: float, radii: tuple[int, ...]
) -> Clustering:
    top = top_rows(value, arch_index, q)
    k, n = len(top), len(grid)
    ops = grid.ops[top]
    dist = (ops[:, None, :] != ops[None, :, :]).sum(-1)
    np.fill_diagonal(dist, NUM_EDGES + 1)
    nearest = dist.min(axis=1)
    near, near_random = {}, {}
    within = within_counts(grid, radii)
    for r in radii:
        near[r] = float((nearest <= r).mean())
        # a random k-subset containing row i misses all of i's m neighbors with prob C(n-1-m, k-1) / C(n-1, k-1)
        m = within[r]
        miss = np.exp(_log_comb(n - 1 - m, k - 1) - _log_comb(n - 1, k - 1))
        near_random[r] = float(1.0 - np.where(n - 1 - m >= k - 1, miss, 0.0).mean())
    return Clustering(q, k, distance_histogram(ops), distance_histogram(grid.ops), near, near_random)
