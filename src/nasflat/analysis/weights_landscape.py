"""Weight-space geometry of one trained network: Li et al.'s filter-normalized directions and the loss/accuracy
along them, the weight Hessian's dominant eigenvalue and trace, and GeNAS's flatness F
(docs/analysis.md#weight-space-landscape-analyze-weights).

Every function takes the parameters to move and a ``forward`` (images -> logits) of a model already in eval mode, so
BN uses its running statistics, which are buffers: no direction, perturbation or noise ever touches them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nasflat.analysis.curvature import dominant_eigenvalue, hutchinson_trace, hvp_operator
from nasflat.evaluators.flatness import noise_draws, perturbed_losses

Tensors = list[torch.Tensor]
Forward = Callable[[torch.Tensor], torch.Tensor]
FILTER_EPS = 1e-10  # loss-landscapes net_plotter.normalize_direction: d * |w| / (|d| + 1e-10)
GENAS_LOSS_BATCH = 64  # GeNAS's loss: mean over 64-image batches of the batch-mean cross-entropy


def filter_normalized_direction(params: Sequence[torch.Tensor], generator: torch.Generator) -> Tensors:
    """A Gaussian direction with each filter (slice along dim 0) rescaled to the norm of the matching weight filter;
    parameters with ndim <= 1 (BN affine, biases) get zero (Li et al.'s ``ignore='biasbn'``). The draw is made for
    every parameter in order, 1-d ones included, as their ``get_random_weights`` does, then zeroed."""
    out = []
    for p in params:
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        if p.dim() <= 1:
            d.zero_()
        else:
            w = p.detach().flatten(1).norm(dim=1)  # (filters,)
            d = d * (w / (d.flatten(1).norm(dim=1) + FILTER_EPS)).view(-1, *([1] * (p.dim() - 1)))
        out.append(d)
    return out


def grid(points: int, span: float) -> list[float]:
    """``points`` coordinates evenly over [-span, span]; an odd count puts an exact 0 in the middle."""
    if points < 2:
        raise ValueError(f"a grid needs at least 2 points, got {points}")
    return [span * (2 * i / (points - 1) - 1) for i in range(points)]


@contextmanager
def moved(params: Sequence[torch.Tensor]) -> Iterator[Tensors]:
    """Yields the current weights w; inside the block callers may overwrite ``params``; w is restored after."""
    origin = [p.detach().clone() for p in params]
    try:
        yield origin
    finally:
        with torch.no_grad():
            for p, w in zip(params, origin):
                p.copy_(w)


@torch.no_grad()
def set_weights(
    params: Sequence[torch.Tensor],
    origin: Sequence[torch.Tensor],
    directions: Sequence[Tensors],
    coords: Sequence[float],
) -> None:
    """params = origin + sum_k coords[k] * directions[k] (loss-landscapes net_plotter.set_weights)."""
    for i, (p, w) in enumerate(zip(params, origin)):
        p.copy_(w)
        for c, d in zip(coords, directions):
            p.add_(d[i], alpha=float(c))


@torch.no_grad()
def per_image(forward: Forward, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy (float64, (N,)) and correctness ((N,) bool) of every image, forwarded in chunks."""
    ce, hit = [], []
    for i in range(0, len(y), batch_size):
        logits = forward(x[i : i + batch_size])
        ce.append(F.cross_entropy(logits, y[i : i + batch_size], reduction="none").double())
        hit.append(logits.argmax(1) == y[i : i + batch_size])
    return torch.cat(ce), torch.cat(hit)


def batch_mean(ce: torch.Tensor, batch: int = GENAS_LOSS_BATCH) -> float:
    """GeNAS's loss: the mean over consecutive ``batch``-image batches of each batch's mean (a last partial batch
    weighs like a full one); equal to the plain mean when the image count is a multiple of ``batch``."""
    return float(torch.stack([c.mean() for c in ce.split(batch)]).mean())


@dataclass(frozen=True)
class Surface:
    """Loss and accuracy at each grid point; ``coords[i]`` holds one coordinate per direction."""

    coords: list[tuple[float, ...]]
    loss: list[float]
    acc: list[float]


def surface(
    forward: Forward,
    params: Sequence[torch.Tensor],
    directions: Sequence[Tensors],
    coords: Sequence[tuple[float, ...]],
    data: tuple[torch.Tensor, torch.Tensor],
    batch_size: int,
) -> Surface:
    """Mean cross-entropy and accuracy on ``data`` at w + sum_k c_k d_k for every point c; w restored afterwards."""
    losses, accs = [], []
    with moved(params) as origin:
        for c in coords:
            set_weights(params, origin, directions, c)
            ce, hit = per_image(forward, *data, batch_size)
            losses.append(float(ce.mean()))
            accs.append(float(hit.double().mean()))
    return Surface([tuple(float(v) for v in c) for c in coords], losses, accs)


def flatness_losses(
    forward: Forward,
    params: Sequence[torch.Tensor],
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    stds: Sequence[float],
    seed: int,
    cumulative: bool,
    batch_size: int,
) -> list[float]:
    """GeNAS's L_1..L_t: Gaussian noise on every parameter (cumulative increments σ_i − σ_{i−1} by default, drawn by
    the flatness evaluator's ``noise_draws``), GeNAS's batch-mean loss at each level; weights restored afterwards."""
    return perturbed_losses(
        params,
        noise_draws(params, stds, seed, cumulative),
        cumulative,
        lambda: batch_mean(per_image(forward, *data, batch_size)[0]),
    )


@dataclass(frozen=True)
class Curvature:
    """λ_max of the weight Hessian (power iteration) and its Hutchinson trace estimate ± standard error."""

    eigenvalue: float
    iterations: int
    converged: bool
    trace: float
    trace_se: float
    num_params: int


def used_parameters(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]) -> Tensors:
    """The parameters the loss depends on (a supernet path or an eval-mode auxiliary head leaves others unused)."""
    grads = torch.autograd.grad(loss_fn(), list(params), allow_unused=True)
    return [p for p, g in zip(params, grads) if g is not None]


def curvature(
    forward: Forward,
    params: Sequence[torch.Tensor],
    data: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    *,
    iters: int,
    tol: float,
    samples: int,
) -> Curvature:
    """Hessian of the mean cross-entropy on ``data`` (one batch) with respect to every used parameter."""
    x, y = data

    def loss_fn() -> torch.Tensor:
        return F.cross_entropy(forward(x), y)

    used = used_parameters(loss_fn, params)
    matvec = hvp_operator(loss_fn, used)
    eig = dominant_eigenvalue(matvec, used, generator, iters=iters, tol=tol)
    trace, se = hutchinson_trace(matvec, used, generator, samples=samples)
    n = sum(p.numel() for p in used)
    return Curvature(eig.eigenvalue, eig.iterations, eig.converged, trace, se, n)
