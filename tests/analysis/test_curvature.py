"""Curvature tools against closed forms and torch.autograd.functional.hessian."""

from __future__ import annotations

import pytest
import torch

from nasflat.analysis.curvature import (
    dominant_eigenvalue,
    exact_hessian,
    hutchinson_trace,
    hvp_operator,
    max_eigenvalue,
)


def quadratic(a: torch.Tensor):
    x = torch.zeros(a.shape[0], dtype=torch.float64, requires_grad=True)
    return x, (lambda: 0.5 * x @ a @ x + torch.sin(x).sum() * 0.0)


def spd(eigs: list[float], seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(len(eigs), len(eigs), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    return q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T


def test_exact_hessian_matches_autograd_functional():
    w = torch.randn(7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = torch.randn(7, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)

    def f(t: torch.Tensor) -> torch.Tensor:
        return torch.log1p(torch.exp(t @ w)) + (t**3).sum() / 3 + torch.softmax(t, 0)[0]

    reference = torch.autograd.functional.hessian(f, x.detach())
    assert torch.allclose(exact_hessian(lambda: f(x), [x]), reference, atol=1e-12)


@pytest.mark.parametrize("eigs", [[5.0, 2.0, -1.0, 0.5], [1.0, -7.0, 3.0, 0.1]])
def test_dominant_eigenvalue_is_the_largest_algebraic_one(eigs):
    a = spd(eigs)
    x, loss = quadratic(a)
    h = exact_hessian(loss, [x])
    assert max_eigenvalue(h) == pytest.approx(max(eigs), rel=1e-12)
    res = dominant_eigenvalue(hvp_operator(loss, [x]), [x], torch.Generator().manual_seed(0), iters=500, tol=1e-12)
    assert res.converged and res.eigenvalue == pytest.approx(max(eigs), rel=1e-6)


def test_hutchinson_is_unbiased_on_a_known_trace():
    a = spd([4.0, 3.0, 2.0, 1.0, -0.5], seed=3)
    x, loss = quadratic(a)
    est, err = hutchinson_trace(hvp_operator(loss, [x]), [x], torch.Generator().manual_seed(0), samples=400)
    assert abs(est - 9.5) < 4 * err and err < 0.5
    # a diagonal Hessian is exact for every Rademacher draw
    d = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    x, loss = quadratic(d)
    est, err = hutchinson_trace(hvp_operator(loss, [x]), [x], torch.Generator().manual_seed(0), samples=5)
    assert est == pytest.approx(6.0) and err == pytest.approx(0.0, abs=1e-12)
