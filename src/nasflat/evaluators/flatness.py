"""GeNAS flatness of a supernet path (clovaai/GeNAS ``get_cand_wlm``; docs/methods.md#flatness).

For a candidate: recalibrate BN on ``bn_images`` training images, then for sigma_1 < ... < sigma_t add Gaussian
noise to *every* supernet parameter and measure the held-out loss L_i (mean over 64-image batches of the batch-mean
cross-entropy). As in the official code the noise is cumulative: step i adds N(0, (sigma_i - sigma_{i-1})^2) on top
of step i-1's weights (effective std sqrt(sigma_1^2 + sum (sigma_k - sigma_{k-1})^2), not sigma_i), while the slopes
use the nominal sigmas:

    F = 1 / (alpha |L_1 / sigma_1| + sum_i |(L_{i+1} - L_i) / (sigma_{i+1} - sigma_i)| + 1e-5)

(alpha = 1 in the code; the unperturbed loss is not used). ``cumulative=False`` is the named variant that perturbs
the trained weights afresh with N(0, sigma_i^2) at every step.

Deterministic by construction: the noise comes from a ``torch.Generator``, drawn level by level and, within a level,
parameter by parameter in ``named_parameters`` order, with each parameter's dtype. As in the official code every
candidate gets its own noise (``noise="per_candidate"``, default); the generator is seeded from the run seed (or
``noise_seed``) and the architecture (:mod:`nasflat.rng`), so a score is a function of the architecture alone
(cacheable, shardable, independent of the scoring order), unlike the official global-RNG stream. ``noise="shared"``
(named deviation) reuses one draw for every candidate (common random numbers: candidates then differ only by their
path). The supernet is perturbed in place and restored exactly, instead of deep-copied per candidate.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.paths import PathData
from nasflat.rng import Purpose, stream_seed
from nasflat.spaces.base import Arch

EPS = 1e-5


def flatness_from_losses(losses: Sequence[float], stds: Sequence[float], alpha: float = 1.0) -> float:
    """F from the perturbed losses L_1..L_t at nominal stds sigma_1..sigma_t (GeNAS's formula, depth weight alpha)."""
    if len(losses) != len(stds) or not stds:
        raise ValueError(f"need one loss per std, got {len(losses)} losses for {len(stds)} stds")
    poor = alpha * abs(losses[0] / stds[0])
    for i in range(len(stds) - 1):
        poor += abs((losses[i + 1] - losses[i]) / (stds[i + 1] - stds[i]))
    return 1.0 / (poor + EPS)


def check_stds(stds: Sequence[float]) -> tuple[float, ...]:
    stds = tuple(float(s) for s in stds)
    if not stds or stds[0] <= 0 or any(b <= a for a, b in itertools.pairwise(stds)):
        raise ValueError(f"evaluator.stds must be positive and strictly increasing (GeNAS asserts it), got {stds}")
    return stds


def noise_draws(
    params: Sequence[torch.Tensor], stds: Sequence[float], seed: int, cumulative: bool = True
) -> list[list[torch.Tensor]]:
    """Per level, per parameter: the noise added at that level (cumulative: std sigma_i - sigma_{i-1}).

    Drawn on the CPU (identical on every device) in level-major, parameter order, each in its parameter's dtype.
    """
    g = torch.Generator().manual_seed(seed)
    out, prev = [], 0.0
    for s in stds:
        scale = s - prev if cumulative else s
        out.append([(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale).to(p.device) for p in params])
        prev = s
    return out


def perturbed_losses(
    params: Sequence[torch.Tensor], draws: Sequence[Sequence[torch.Tensor]], cumulative: bool, loss: Callable[[], float]
) -> list[float]:
    """``loss()`` after adding each level of ``draws`` to ``params`` (on top of the previous level when cumulative,
    else on the original weights); the original weights are restored afterwards, also on error."""
    saved = [p.detach().clone() for p in params]
    out = []
    try:
        for level in draws:
            with torch.no_grad():
                for p, w0, dz in zip(params, saved, level):
                    if not cumulative:
                        p.copy_(w0)
                    p.add_(dz)
            out.append(loss())
    finally:
        with torch.no_grad():
            for p, w0 in zip(params, saved):
                p.copy_(w0)
    return out


class FlatnessEvaluator(Evaluator):
    """GeNAS's "wlm" score F (higher = flatter and deeper minimum) of each candidate's path of the trained supernet."""

    name = "flatness"
    needs_supernet = True
    parallel = True

    def __init__(
        self,
        ctx: Any,
        supernet: Any,
        *,
        stds: Sequence[float] = (0.001, 0.003, 0.006),
        alpha: float = 1.0,
        cumulative: bool = True,
        bn_images: int = 850,
        val_images: int | None = 25000,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        noise_seed: int | None = None,
        noise: Literal["per_candidate", "shared"] = "per_candidate",
    ) -> None:
        super().__init__(ctx.space)
        if noise not in ("per_candidate", "shared"):
            raise ValueError(f"evaluator.noise={noise!r}: expected 'per_candidate' (official) or 'shared'")
        self.noise = noise
        self.ctx, self.supernet = ctx, supernet.supernet
        self.stds, self.alpha, self.cumulative = check_stds(stds), float(alpha), bool(cumulative)
        # the root of the noise streams: the run seed, or an explicit noise_seed in its place (nasflat.rng)
        self.noise_root = ctx.seed if noise_seed is None else int(noise_seed)
        self.noise_seed = ctx.stream(Purpose.FLATNESS_NOISE) if noise_seed is None else int(noise_seed)
        self.data = PathData(
            ctx, bn_images=bn_images, val_images=val_images, batch_size=batch_size, eval_batch_size=eval_batch_size
        )
        self._noise: list[list[torch.Tensor]] | None = None
        self.last_losses: dict[Arch, list[float]] = {}  # L_1..L_t of the archs scored in this process (analysis)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stds": list(self.stds),
            "alpha": self.alpha,
            "cumulative": self.cumulative,
            "bn_images": self.data.bn_images,
            "val_images": self.data.val_images,
            "batch_size": self.data.batch_size,
            "noise_seed": self.noise_seed,
            "noise": self.noise,
            "split": "search_val",
        }

    def losses(self, arch: Arch) -> list[float]:
        """BN recalibration, then L_i at each noise level; the supernet's weights are restored afterwards."""
        model = self.supernet
        self.data.recalibrate(model, arch)
        params = [p for _, p in model.named_parameters()]
        return perturbed_losses(
            params,
            self._draws(params, arch),
            self.cumulative,
            lambda: self.data.batch_mean_loss(self.data.outputs(model, arch)[0]),
        )

    def _draws(self, params: list[torch.Tensor], arch: Arch) -> list[list[torch.Tensor]]:
        if self.noise == "shared":
            if self._noise is None:
                self._noise = noise_draws(params, self.stds, self.noise_seed, self.cumulative)
            return self._noise
        seed = stream_seed(self.noise_root, Purpose.FLATNESS_NOISE, self.space.format(arch))
        return noise_draws(params, self.stds, seed, self.cumulative)

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        out = []
        for arch in archs:
            losses = self.losses(arch)
            self.last_losses[arch] = losses
            out.append(flatness_from_losses(losses, self.stds, self.alpha))
        return out
