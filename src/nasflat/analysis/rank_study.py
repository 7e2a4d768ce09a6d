"""Statistics of an evaluator study: agreement with the truth, pairwise τ, and how stable the top-1 choice is.

Pure functions over score columns (one float per architecture, in the study's architecture order), so every number
the `analyze evaluators` report prints is checked here against brute force. Non-finite scores (NASWOT's ``-inf``
for a network whose logits do not depend on its input) are dropped pairwise, and the drop count is reported.
docs/analysis.md#evaluator-ranking-and-weight-sharing-variance-analyze-evaluators
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence

import numpy as np

from nasflat.analysis.rank import agreement, kendall_tau


def finite_mask(*columns: Sequence[float]) -> np.ndarray:
    """Rows where every column is finite."""
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    return np.logical_and.reduce([np.isfinite(a) for a in arrays])


def truth_agreement(score: Sequence[float], truth: Sequence[float], ks: Sequence[int]) -> dict[str, float]:
    """τ-b, ρ and top-k precision of ``score`` against ``truth`` over the finite rows, plus how many were dropped."""
    s, t = np.asarray(score, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    keep = finite_mask(s, t)
    n = int(keep.sum())
    row: dict[str, float] = {"n": float(n), "dropped": float(len(s) - n)}
    if n < 2:
        return {**row, "kendall_tau": math.nan, "spearman_rho": math.nan}
    return {**agreement(s[keep], t[keep], ks=ks), "dropped": float(len(s) - n)}


def pairwise_tau(columns: dict[str, Sequence[float]]) -> tuple[list[str], np.ndarray]:
    """Kendall τ-b between every two columns (rows finite in both), as a symmetric matrix with 1 on the diagonal."""
    names = list(columns)
    out = np.eye(len(names))
    for i, j in itertools.combinations(range(len(names)), 2):
        a, b = np.asarray(columns[names[i]], dtype=np.float64), np.asarray(columns[names[j]], dtype=np.float64)
        keep = finite_mask(a, b)
        out[i, j] = out[j, i] = kendall_tau(a[keep], b[keep]) if keep.sum() >= 2 else math.nan
    return names, out


def top1(score: Sequence[float]) -> int | None:
    """Position of the highest finite score (the first one on ties, i.e. the study's sampling order); None if none."""
    s = np.asarray(score, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(s))
    return None if len(finite) == 0 else int(finite[np.argmax(s[finite])])


def consecutive_changes(tops: Sequence[Hashable]) -> tuple[int, int]:
    """(how many times the top-1 differs from the previous one, how many transitions), e.g. over epochs."""
    pairs = list(itertools.pairwise(tops))
    return sum(a != b for a, b in pairs), len(pairs)


def pair_changes(tops: Sequence[Hashable]) -> tuple[int, int]:
    """(how many unordered pairs disagree on the top-1, how many pairs), e.g. over supernet seeds."""
    pairs = list(itertools.combinations(tops, 2))
    return sum(a != b for a, b in pairs), len(pairs)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN for fewer than two values) of the finite values."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan
