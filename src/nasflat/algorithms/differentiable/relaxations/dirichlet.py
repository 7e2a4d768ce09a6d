"""DrNAS's relaxation: op weights drawn from a Dirichlet per edge (docs/methods.md#drnas).

Concentration ``β = elu(α) + 1`` (positive for any α); each forward draws ``w ~ Dir(β)`` with the pathwise
(reparameterized) gradient of :mod:`torch.distributions`. The α regularizer is DrNAS's: ``l2`` (its default,
``reg_scale/2 * ||α||²``, the gradient of the α-Adam weight decay the official code sets to ``reg_scale``) or
``kl`` (``reg_scale * Σ_e KL(Dir(β_e) || Dir(1))``). Derivation reads ``softmax(α)``, as DrNAS's genotype does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet as TorchDirichlet
from torch.distributions import kl_divergence

from nasflat.algorithms.differentiable.relaxations.base import Alphas, ProbsTransform, Relaxation
from nasflat.spaces.mixture import Mixture

REG_TYPES = ("l2", "kl")


def concentration(alpha: torch.Tensor) -> torch.Tensor:
    """DrNAS's map from unconstrained α to a positive Dirichlet concentration."""
    return F.elu(alpha) + 1


def dirichlet_rsample(conc: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``Dirichlet(conc).rsample()`` (same draw, same gradient) with randomness taken from ``generator``.

    torch's sampler reads only the global RNG, so the global stream of the generator's device is forked, seeded
    from ``generator`` and restored: the draw is reproducible and the caller's global RNG is left untouched.
    """
    if generator is None:
        return TorchDirichlet(conc).rsample()
    device = generator.device
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=device))
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):
        if cuda:
            with torch.cuda.device(cuda[0]):
                torch.cuda.manual_seed(seed)
        else:
            torch.default_generator.manual_seed(seed)
        sample = TorchDirichlet(conc.to(device)).rsample()
    return sample.to(conc.device)


class Dirichlet(Relaxation):
    """One Dirichlet sample of op weights per edge and forward, with DrNAS's regularizer."""

    name = "dirichlet"
    stochastic = True

    def __init__(self, reg_type: str = "l2", reg_scale: float = 1e-3, partial_channels: int = 1) -> None:
        if reg_type not in REG_TYPES:
            raise ValueError(f"relaxation.reg_type={reg_type!r}: choose one of {REG_TYPES} (DrNAS's default is l2)")
        if reg_scale < 0:
            raise ValueError(f"relaxation.reg_scale={reg_scale}: must be >= 0 (DrNAS uses 1e-3)")
        if isinstance(partial_channels, bool) or not isinstance(partial_channels, int) or partial_channels < 1:
            raise ValueError(
                f"relaxation.partial_channels={partial_channels!r}: expected an integer >= 1 "
                "(DrNAS's DARTS-space search starts at 6; 1 turns partial channels off)"
            )
        self.reg_type, self.reg_scale = reg_type, float(reg_scale)
        self.partial_channels = partial_channels

    def probs(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        return {c: alphas[c].softmax(dim=-1) for c in self.cells}

    def concentrations(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        """Per cell type, the (E, K) Dirichlet concentrations β."""
        return {c: concentration(alphas[c]) for c in self.cells}

    def mixture(
        self, alphas: Alphas, *, transform: ProbsTransform | None = None, generator: torch.Generator | None = None
    ) -> Mixture:
        weights = {c: dirichlet_rsample(b, generator) for c, b in self.concentrations(alphas).items()}
        return Mixture(weights={c: transform(w) if transform else w for c, w in weights.items()})

    def penalty(self, alphas: Alphas) -> torch.Tensor | None:
        if self.reg_scale == 0:
            return None
        if self.reg_type == "l2":
            return 0.5 * self.reg_scale * sum(alphas[c].pow(2).sum() for c in self.cells)
        kl = 0.0
        for b in self.concentrations(alphas).values():
            kl = kl + kl_divergence(TorchDirichlet(b), TorchDirichlet(torch.ones_like(b))).sum()
        return self.reg_scale * kl

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reg_type": self.reg_type,
            "reg_scale": self.reg_scale,
            "partial_channels": self.partial_channels,
        }
