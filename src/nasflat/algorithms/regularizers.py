"""The base methods A²M is plugged into, as small pure pieces the bilevel loop composes (docs/methods.md#modifiers).

- β-DARTS: a penalty on the raw α added to every α-loss evaluation, weighted by a per-epoch λ.
- SDARTS-RS: uniform noise on softmax(α) for the weight step, then A²M/SDARTS's row ``clip``.
- DARTS-: an auxiliary skip on every edge whose weight decays linearly (the supernets implement the skip).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def beta_darts_penalty(alphas: Mapping[str, torch.Tensor], cell_weights: Mapping[str, float]) -> torch.Tensor:
    """Σ_cells w_c · mean over edges of logsumexp(α_e) (A²M's ``mlc_loss``; DARTS space: w_normal = w_reduce = 1)."""
    terms = [cell_weights.get(name, 1.0) * torch.logsumexp(a, dim=-1).mean() for name, a in alphas.items()]
    return torch.stack(terms).sum()


def beta_darts_lambda(epoch: int, tau: float = 0.5, start: float = 0.0) -> float:
    """λ_t = start + t·τ with t the epoch: 0 -> 24.5 over 50 epochs (A²M's NB201 script).

    A²M's released DARTS-space script passes the mini-batch index instead of the epoch; the loop can reproduce
    that with ``beta_schedule="batch_index"`` by calling this with the batch index.
    """
    return start + epoch * tau


def sdarts_epsilon(epoch: int, epochs: int, epsilon_max: float = 0.3, epsilon_min: float = 0.03) -> float:
    """SDARTS-RS's noise radius, ramped linearly from ``epsilon_min`` at epoch 0 towards ``epsilon_max``."""
    return epsilon_min + (epsilon_max - epsilon_min) * epoch / epochs


def clip_rows(w: torch.Tensor) -> torch.Tensor:
    """SDARTS's ``clip``: clamp rows to [0, 1] (an all-zero row -> one-hot at its pre-clamp argmax), renormalize."""
    top = w.argmax(dim=-1, keepdim=True)
    c = w.clamp(0.0, 1.0)
    dead = c.sum(dim=-1, keepdim=True) == 0
    c = torch.where(dead, torch.zeros_like(c).scatter(-1, top, 1.0), c)
    return c / c.sum(dim=-1, keepdim=True)


def sdarts_rs_perturb(probs: torch.Tensor, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """softmax(α) + U(-ε, ε) noise, clipped row-wise (SDARTS-RS ``Random_alpha``); noise drawn from ``generator``."""
    noise = torch.rand(probs.shape, generator=generator, dtype=probs.dtype, device=generator.device)
    return clip_rows(probs + (2 * noise.to(probs.device) - 1) * epsilon)


def darts_minus_beta(epoch: int, total: int) -> float:
    """Weight of DARTS-'s auxiliary skip during ``epoch`` (0-based).

    A²M steps a linear ``DecayScheduler(T_max=50)`` *after* each epoch with that epoch's index, so epochs 0 and 1
    both use 1.0 and epoch t >= 1 uses (T - (t - 1)) / T; ``total`` is T (the search length in A²M's scripts).
    """
    return max(0.0, (total - max(epoch - 1, 0)) / total)
