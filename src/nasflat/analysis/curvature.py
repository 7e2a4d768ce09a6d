"""Curvature of a loss: Hessian-vector products, the exact Hessian of a few parameters, the dominant eigenvalue by
power iteration and the Hutchinson trace estimate (docs/analysis.md#curvature).

"Dominant eigenvalue" follows RobustDARTS (its ``analyze.py`` takes ``max(eigvals(H))``): the largest *algebraic*
eigenvalue. Power iteration finds the eigenvalue of largest magnitude; when that one is negative a second power
iteration on the shifted operator ``H - λ I`` finds the largest algebraic one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Tensors = list[torch.Tensor]
MatVec = Callable[[Tensors], Tensors]


def hvp_operator(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]) -> MatVec:
    """v ↦ H v for H = ∇²_params loss_fn(); the graph of the gradient is built once and reused by every product."""
    params = list(params)
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)

    def matvec(v: Tensors) -> Tensors:
        out = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True, allow_unused=True)
        return [torch.zeros_like(p) if o is None else o.detach() for p, o in zip(params, out)]

    return matvec


def exact_hessian(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The full Hessian (n × n over the flattened params), one Hessian-vector product per unit vector."""
    params = list(params)
    matvec = hvp_operator(loss_fn, params)
    n = sum(p.numel() for p in params)
    rows = []
    for i in range(n):
        e = torch.zeros(n, dtype=params[0].dtype, device=params[0].device)
        e[i] = 1.0
        rows.append(_flat(matvec(_unflat(e, params))))
    h = torch.stack(rows)
    return (h + h.T) / 2  # symmetric up to round-off; symmetrize so eigvalsh applies


def max_eigenvalue(h: torch.Tensor) -> float:
    """Largest algebraic eigenvalue of a symmetric matrix."""
    return float(torch.linalg.eigvalsh(h)[-1])


@dataclass(frozen=True)
class PowerResult:
    """Outcome of a power iteration: the eigenvalue, its unit eigenvector, how many products it took, whether the
    relative change fell below the tolerance."""

    eigenvalue: float
    vector: Tensors
    iterations: int
    converged: bool


def power_iteration(
    matvec: MatVec,
    like: Sequence[torch.Tensor],
    generator: torch.Generator,
    iters: int = 100,
    tol: float = 1e-5,
    shift: float = 0.0,
) -> PowerResult:
    """Eigenvalue of largest magnitude of (H − shift·I) by power iteration from a seeded random start."""
    v = _normalize([torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in like])
    eig, done, it = 0.0, False, 0
    for it in range(1, iters + 1):
        hv = [h - shift * x for h, x in zip(matvec(v), v)]
        new = float(sum((a * b).sum() for a, b in zip(hv, v)))  # Rayleigh quotient v·Hv with |v| = 1
        norm = math.sqrt(float(sum((h * h).sum() for h in hv)))
        if norm == 0.0:
            return PowerResult(0.0, v, it, True)
        v = [h / norm for h in hv]
        done = it > 1 and abs(new - eig) <= tol * max(abs(new), 1e-12)
        eig = new
        if done:
            break
    return PowerResult(eig + shift, v, it, done)


def dominant_eigenvalue(
    matvec: MatVec, like: Sequence[torch.Tensor], generator: torch.Generator, iters: int = 100, tol: float = 1e-5
) -> PowerResult:
    """Largest algebraic eigenvalue (RobustDARTS's λ_max): power iteration, shifted once if the first is negative."""
    first = power_iteration(matvec, like, generator, iters, tol)
    if first.eigenvalue >= 0:
        return first
    second = power_iteration(matvec, like, generator, iters, tol, shift=first.eigenvalue)
    return PowerResult(second.eigenvalue, second.vector, first.iterations + second.iterations, second.converged)


def hutchinson_trace(
    matvec: MatVec, like: Sequence[torch.Tensor], generator: torch.Generator, samples: int = 20
) -> tuple[float, float]:
    """tr(H) ≈ mean of zᵀHz over Rademacher z; returns (estimate, standard error of the mean)."""
    values = []
    for _ in range(samples):
        z = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p.dtype).to(p.device) for p in like]
        values.append(float(sum((a * b).sum() for a, b in zip(matvec(z), z))))
    t = torch.tensor(values, dtype=torch.float64)
    err = float(t.std(unbiased=True) / math.sqrt(samples)) if samples > 1 else float("nan")
    return float(t.mean()), err


def _flat(ts: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


def _unflat(x: torch.Tensor, like: Sequence[torch.Tensor]) -> Tensors:
    out, i = [], 0
    for p in like:
        out.append(x[i : i + p.numel()].view_as(p))
        i += p.numel()
    return out


def _normalize(v: Tensors) -> Tensors:
    norm = math.sqrt(float(sum((x * x).sum() for x in v)))
    return [x / norm for x in v]
