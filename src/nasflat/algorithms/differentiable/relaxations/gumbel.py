"""GDAS's relaxation: one hard Gumbel-softmax sample per edge and forward (docs/methods.md#gdas).

Per cell type, with g ~ Gumbel(0, 1) from the run's generator and temperature τ:
``h = softmax((log p + g) / τ)``, ``i = argmax h``, ``w = one_hot(i) - h.detach() + h`` (straight-through: the
forward value is one-hot, the gradient is that of the soft sample). Only op i runs on each edge; the supernet adds
the other weights as scalars so their gradient flows as in AutoDL's NB201 GDAS cell. ``others_gradient=False`` is
AutoDL's NASNet/DARTS-space cell, which multiplies only the sampled op by its weight: the other weights are detached
(same forward, no gradient through them). ``p = softmax(α)``, or the NA-DARTS
transform of it. τ falls linearly from ``tau_max`` at the first epoch to ``tau_min`` at the last.
"""

from __future__ import annotations

from typing import Any

import torch

from nasflat.algorithms.differentiable.relaxations.base import Alphas, ProbsTransform, Relaxation
from nasflat.spaces.mixture import Mixture

MAX_DRAWS = 100  # GDAS redraws until the sample is finite; a run that never gets one has non-finite α


def gumbel_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard Gumbel noise shaped like ``like``, drawn on the generator's device so runs are reproducible."""
    device = generator.device if generator is not None else like.device
    e = torch.empty(like.shape, dtype=like.dtype, device=device).exponential_(generator=generator)
    return (-e.log()).to(like.device)


def hard_gumbel(log_p: torch.Tensor, gumbels: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through one-hot weights and their argmax index, row-wise over the last dimension."""
    soft = ((log_p + gumbels) / tau).softmax(dim=-1)
    index = soft.argmax(dim=-1)
    one_hot = torch.zeros_like(soft).scatter_(-1, index.unsqueeze(-1), 1.0)
    return one_hot - soft.detach() + soft, index


class Gumbel(Relaxation):
    """Hard Gumbel-softmax sampling with a linearly annealed temperature."""

    name = "gumbel"
    stochastic = True
    single_path = True  # one op per edge and forward: SDARTS-RS noise on the weights has no meaning here

    def __init__(self, tau_max: float = 10.0, tau_min: float = 0.1, others_gradient: bool = True) -> None:
        if not 0 < tau_min <= tau_max:
            raise ValueError(
                f"relaxation.tau_min={tau_min}, relaxation.tau_max={tau_max}: need 0 < tau_min <= tau_max "
                "(GDAS anneals 10 -> 0.1)"
            )
        self.tau_max, self.tau_min = float(tau_max), float(tau_min)
        self.tau = self.tau_max
        self.others_gradient = bool(others_gradient)

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """τ_e = τ_max - (τ_max - τ_min) * e / (epochs - 1), e counted from 0 (τ_max for a one-epoch run)."""
        self.tau = self.tau_max - (self.tau_max - self.tau_min) * epoch / max(epochs - 1, 1)

    def schedules(self) -> dict[str, float]:
        return {"tau": self.tau}

    def probs(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        return {c: alphas[c].softmax(dim=-1) for c in self.cells}

    def mixture(
        self, alphas: Alphas, *, transform: ProbsTransform | None = None, generator: torch.Generator | None = None
    ) -> Mixture:
        weights, index = {}, {}
        for c in self.cells:
            log_p = alphas[c].log_softmax(dim=-1) if transform is None else transform(alphas[c].softmax(dim=-1)).log()
            weights[c], index[c] = self._draw(c, log_p, generator)
            if not self.others_gradient:
                sampled = torch.zeros_like(weights[c], dtype=torch.bool).scatter_(-1, index[c].unsqueeze(-1), True)
                weights[c] = torch.where(sampled, weights[c], weights[c].detach())
        return Mixture(weights=weights, index=index)

    def _draw(
        self, cell: str, log_p: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(MAX_DRAWS):
            gumbels = gumbel_noise(log_p, generator)
            hard, index = hard_gumbel(log_p, gumbels, self.tau)
            if torch.isfinite(gumbels).all() and torch.isfinite(hard).all():
                return hard, index
        raise RuntimeError(
            f"no finite Gumbel sample for cell {cell!r} in {MAX_DRAWS} draws at tau={self.tau}; "
            "its architecture parameters are not finite (lower the α learning rate)"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tau_max": self.tau_max,
            "tau_min": self.tau_min,
            "others_gradient": self.others_gradient,
        }
