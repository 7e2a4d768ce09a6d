"""Rank statistics against brute force over all pairs (the definition) and hand examples."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from nasflat.analysis.rank import agreement, kendall_tau, spearman_rho, top_k_precision


def brute_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """τ-b by its definition: Σ sign(dx)·sign(dy) over pairs / sqrt(untied-in-x pairs · untied-in-y pairs)."""
    num = nx = ny = 0
    for i, j in combinations(range(len(x)), 2):
        sx, sy = np.sign(x[j] - x[i]), np.sign(y[j] - y[i])
        num += sx * sy
        nx += sx != 0
        ny += sy != 0
    return num / math.sqrt(nx * ny)


def brute_spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of average ranks (ties share the mean of their positions)."""

    def ranks(v: np.ndarray) -> np.ndarray:
        return np.array([np.mean(np.flatnonzero(np.sort(v) == e)) + 1 for e in v])

    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def test_tau_b_hand_examples():
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0 and kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    # pairs: (1,2) concordant, (1,3) concordant, (2,3) tied in x -> tau_b = 2 / sqrt(2 * 3)
    assert kendall_tau([1, 2, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tau_and_rho_match_brute_force_with_ties(seed):
    r = np.random.default_rng(seed)
    a, b = r.integers(0, 6, 120).astype(float), np.round(r.normal(size=120), 1)
    assert kendall_tau(a, b) == pytest.approx(brute_tau_b(a, b), rel=1e-12)
    assert spearman_rho(a, b) == pytest.approx(brute_spearman(a, b), rel=1e-12)


def test_constant_side_gives_nan_and_bad_input_is_refused():
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3])) and math.isnan(spearman_rho([1, 2, 3], [5, 5, 5]))
    with pytest.raises(ValueError, match="finite"):
        kendall_tau([1.0, -math.inf], [1.0, 2.0])
    with pytest.raises(ValueError, match="equal length"):
        spearman_rho([1.0, 2.0, 3.0], [1.0, 2.0])


def test_top_k_precision_hand_example_and_ties():
    truth = [10, 9, 8, 7, 6]
    assert top_k_precision([5, 4, 3, 2, 1], truth, 2) == 1.0
    assert top_k_precision([1, 5, 4, 2, 3], truth, 2) == 0.5  # picks items 1 and 2; top-2 truth is items 0 and 1
    # a truth tie at the k-th value: either tied item counts as top-2
    assert top_k_precision([0, 1, 2], [9, 8, 8], 2) == 1.0
    with pytest.raises(ValueError, match="k must be"):
        top_k_precision([1, 2], [1, 2], 3)


def test_agreement_row_skips_k_larger_than_n():
    row = agreement([1, 2, 3, 4], [1, 4, 3, 2], ks=(2, 10))
    # the two highest scores pick items 3 and 2 (truth 2 and 3); the top-2 truths are items 1 and 2
    assert row["n"] == 4 and "top10_precision" not in row and row["top2_precision"] == 0.5
    assert row["kendall_tau"] == pytest.approx(brute_tau_b(np.array([1, 2, 3, 4.0]), np.array([1, 4, 3, 2.0])))
