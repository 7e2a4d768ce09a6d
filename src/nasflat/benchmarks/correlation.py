"""Rank correlation for checking proxies against benchmark accuracies (no scipy dependency)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (tie-aware, as ``scipy.stats.kendalltau``'s default): sum sign(dx) sign(dy) over pairs,
    divided by sqrt(#pairs untied in x * #pairs untied in y). O(n^2) memory-light loop over rows; fine for n <= 1e4."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("kendall_tau_b needs finite values (drop -inf / NaN scores first)")
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"need two 1-d sequences of equal length >= 2, got shapes {a.shape} and {b.shape}")
    num = nx = ny = 0
    for i in range(len(a) - 1):
        sx, sy = np.sign(a[i + 1 :] - a[i]), np.sign(b[i + 1 :] - b[i])
        num += int((sx * sy).sum())
        nx += int(np.count_nonzero(sx))
        ny += int(np.count_nonzero(sy))
    if nx == 0 or ny == 0:
        return float("nan")
    return num / float(np.sqrt(float(nx) * float(ny)))
