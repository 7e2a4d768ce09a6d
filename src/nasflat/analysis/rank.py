"""How well one score ranks against another: Kendall τ-b, Spearman ρ and top-k precision.

The correlations are scipy's (O(n log n), tie-aware), so whole-table analyses over 15,625 NB201 architectures
are instant. Scores must be finite: an evaluator's ``-inf`` (e.g. NASWOT's singular kernel) is dropped by the
caller, who reports how many were dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def _pair(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"need two 1-d sequences of equal length >= 2, got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("rank correlations need finite values (drop -inf / NaN scores first and report how many)")
    return a, b


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ-b (ties in either sequence reduce the denominator); NaN when one side is constant."""
    a, b = _pair(x, y)
    return float(stats.kendalltau(a, b, variant="b").statistic)


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ on average ranks of ties; NaN when one side is constant."""
    a, b = _pair(x, y)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def top_k_precision(score: Sequence[float], truth: Sequence[float], k: int) -> float:
    """Fraction of the k highest-scored items that are among the k best by ``truth``.

    An item counts as "top-k by truth" when its truth is at least the k-th best truth value, so ties at the cut do
    not depend on row order; the k chosen items are the highest scores, ties broken by position (stable sort).
    """
    s, t = _pair(score, truth)
    if not 1 <= k <= len(s):
        raise ValueError(f"k must be between 1 and {len(s)} (the number of items), got {k}")
    chosen = np.argsort(-s, kind="stable")[:k]
    threshold = np.sort(t)[::-1][k - 1]
    return float(np.mean(t[chosen] >= threshold))


def agreement(score: Sequence[float], truth: Sequence[float], ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    """τ-b, ρ and top-k precision of ``score`` against ``truth`` as one row (k larger than n is skipped)."""
    row = {"n": float(len(score)), "kendall_tau": kendall_tau(score, truth), "spearman_rho": spearman_rho(score, truth)}
    for k in ks:
        if k <= len(score):
            row[f"top{k}_precision"] = top_k_precision(score, truth, k)
    return row
