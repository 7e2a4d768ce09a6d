"""Modifiers: the base methods A²M is plugged into, each owning its schedule (docs/methods.md#modifiers).

- :class:`BetaDarts`: a penalty on the raw op logits added to every α-loss evaluation, weighted by λ_t.
- :class:`SdartsRS`: uniform noise on the weight step's op weights, then SDARTS's row ``clip``.
- :class:`DartsMinus`: an auxiliary skip on every edge whose weight decays linearly (a supernet build option).

A modifier hooks into the harness at fixed points (all no-ops by default): ``supernet_options`` (build),
``check`` (refuse a relaxation it cannot work with), ``alpha_penalty``, ``weight_mixture`` and ``aux_skip``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import torch

from nasflat.algorithms.differentiable.relaxations.base import Relaxation
from nasflat.spaces.mixture import Mixture


class Modifier:
    """A base method layered on any differentiable search; epoch-driven, stateless otherwise."""

    name = ""

    def __init__(self) -> None:
        self.epoch, self.epochs = 0, 1

    def set_epoch(self, epoch: int, epochs: int) -> None:
        self.epoch, self.epochs = epoch, epochs

    def schedules(self) -> dict[str, float]:
        """The current schedule values, logged per epoch."""
        return {}

    def supernet_options(self) -> dict[str, Any]:
        return {}

    def check(self, relaxation: Relaxation) -> None:
        """Raise ValueError (with the reason) when this modifier cannot work with ``relaxation``."""
        return None

    def alpha_penalty(self, ops: Mapping[str, torch.Tensor], batch_index: int) -> torch.Tensor | None:
        """An α-only term added to the α objective; ``ops`` are the op logits per cell type."""
        return None

    def weight_mixture(self, mixture: Mixture, generator: torch.Generator) -> Mixture:
        """The mixture the weight step trains (the α step's is untouched)."""
        return mixture

    def aux_skip(self) -> float:
        """DARTS-'s auxiliary skip weight for every forward of the current epoch (0: none)."""
        return 0.0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


# ---- β-DARTS -------------------------------------------------------------------------------------------------------
def beta_darts_penalty(alphas: Mapping[str, torch.Tensor], cell_weights: Mapping[str, float]) -> torch.Tensor:
    """Σ_cells w_c · mean over edges of logsumexp(α_e) (A²M's ``mlc_loss``; DARTS space: w_normal = w_reduce = 1)."""
    terms = [cell_weights.get(name, 1.0) * torch.logsumexp(a, dim=-1).mean() for name, a in alphas.items()]
    return torch.stack(terms).sum()


def beta_darts_lambda(t: int, tau: float = 0.5, start: float = 0.0) -> float:
    """λ_t = start + t·τ: 0 -> 24.5 over 50 epochs (A²M's NB201 script)."""
    return start + t * tau


class BetaDarts(Modifier):
    """β-DARTS: + λ_t · Σ_c w_c mean_e logsumexp(α_e) in every α-loss evaluation.

    ``schedule``: ``epoch`` (t = the epoch, A²M's NB201 script) or ``batch_index`` (t = the mini-batch index, as
    A²M's released DARTS-space script passes it).
    """

    name = "beta_darts"

    def __init__(
        self,
        tau: float = 0.5,
        schedule: Literal["epoch", "batch_index"] = "epoch",
        weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        if schedule not in ("epoch", "batch_index"):
            raise ValueError(f"modifiers.beta_darts.schedule={schedule!r}: expected epoch or batch_index")
        self.tau, self.schedule, self.weights = tau, schedule, dict(weights or {})

    def lam(self, batch_index: int) -> float:
        return beta_darts_lambda(self.epoch if self.schedule == "epoch" else batch_index, self.tau)

    def schedules(self) -> dict[str, float]:
        return {"beta_darts_lambda": self.lam(0)}

    def alpha_penalty(self, ops: Mapping[str, torch.Tensor], batch_index: int) -> torch.Tensor | None:
        lam = self.lam(batch_index)
        return lam * beta_darts_penalty(ops, self.weights) if lam else None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tau": self.tau, "schedule": self.schedule, "weights": self.weights}


# ---- SDARTS-RS -----------------------------------------------------------------------------------------------------
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
    """p + U(-ε, ε) noise, clipped row-wise (SDARTS-RS ``Random_alpha``); noise drawn from ``generator``."""
    noise = torch.rand(probs.shape, generator=generator, dtype=probs.dtype, device=generator.device)
    return clip_rows(probs + (2 * noise.to(probs.device) - 1) * epsilon)


class SdartsRS(Modifier):
    """SDARTS-RS: the weight step trains at op weights perturbed by U(-ε_t, ε_t), ε_t from 0.03 to ``epsilon_max``.

    Refused with a single-path relaxation (GDAS's hard sample): noise on a one-hot straight-through sample would
    change which ops run nowhere and only rescale the sampled op.
    """

    name = "sdarts_rs"

    def __init__(self, epsilon_max: float = 0.3, epsilon_min: float = 0.03) -> None:
        super().__init__()
        self.epsilon_max, self.epsilon_min = epsilon_max, epsilon_min

    def epsilon(self) -> float:
        return sdarts_epsilon(self.epoch, self.epochs, self.epsilon_max, self.epsilon_min)

    def schedules(self) -> dict[str, float]:
        return {"sdarts_epsilon": self.epsilon()}

    def check(self, relaxation: Relaxation) -> None:
        if getattr(relaxation, "single_path", False):
            raise ValueError(
                f"SDARTS-RS perturbs the op weights of every op on every edge; relaxation={relaxation.name} runs "
                "one sampled op per edge (hard sampling): drop modifiers.sdarts_rs or use a dense relaxation"
            )

    def weight_mixture(self, mixture: Mixture, generator: torch.Generator) -> Mixture:
        eps = self.epsilon()
        noisy = {n: sdarts_rs_perturb(w, eps, generator) for n, w in mixture.weights.items()}
        return dataclasses.replace(mixture, weights=noisy)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "epsilon_max": self.epsilon_max, "epsilon_min": self.epsilon_min}


# ---- DARTS- --------------------------------------------------------------------------------------------------------
def darts_minus_beta(epoch: int, total: int) -> float:
    """Weight of DARTS-'s auxiliary skip during ``epoch`` (0-based).

    A²M steps a linear ``DecayScheduler(T_max=50)`` *after* each epoch with that epoch's index, so epochs 0 and 1
    both use 1.0 and epoch t >= 1 uses (T - (t - 1)) / T; ``total`` is T (the search length in A²M's scripts).
    """
    return max(0.0, (total - max(epoch - 1, 0)) / total)


class DartsMinus(Modifier):
    """DARTS-: an auxiliary skip on every edge (a supernet build option), its weight decayed 1 -> 0 over
    ``epochs`` epochs (null: the search length; A²M: 50)."""

    name = "darts_minus"

    def __init__(self, epochs: int | None = None) -> None:
        super().__init__()
        if epochs is not None and epochs < 1:
            raise ValueError(f"modifiers.darts_minus.epochs={epochs}: the decay length must be >= 1 (or null)")
        self.decay_epochs = epochs

    def supernet_options(self) -> dict[str, Any]:
        return {"aux_skip": True}

    def aux_skip(self) -> float:
        return darts_minus_beta(self.epoch, self.decay_epochs or self.epochs)

    def schedules(self) -> dict[str, float]:
        return {"aux_skip_beta": self.aux_skip()}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "epochs": self.decay_epochs}
