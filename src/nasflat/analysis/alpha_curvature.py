"""α-space curvature during a differentiable search, and RobustDARTS's early stop on it.

RobustDARTS (Zela et al., ICLR 2020) showed that the dominant eigenvalue of ∇²_α L_val grows when DARTS collapses,
and stops the search when its local average rises too fast (DARTS-ES). :class:`AlphaCurvature` measures that
eigenvalue after a search epoch on a fixed held-out batch set; their stopping rule (DARTS-ES) is a selection rule
of the differentiable harness (:class:`nasflat.algorithms.differentiable.selection.DartsES`).
Formulas, the official code followed and the deviations: docs/analysis.md#α-space-curvature-during-differentiable-search
and docs/methods.md#darts-es.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasflat import distributed
from nasflat.analysis.curvature import dominant_eigenvalue, exact_hessian, hvp_operator, max_eigenvalue
from nasflat.data import ImageSplit, fixed_batches

Batch = tuple[torch.Tensor, torch.Tensor]
# α (by name) -> what the supernet's relaxed forward consumes (a Mixture, or {cell: (E, K) weights})
MixtureOf = Callable[[Mapping[str, torch.Tensor]], Any]


@dataclass(frozen=True)
class CurvatureResult:
    """λ_max of ∇²_α L_val, how it was found (``exact`` Hessian or ``power`` iteration) and what it cost."""

    eigenvalue: float
    path: str
    products: int  # Hessian-vector products
    converged: bool
    seconds: float

    def metrics(self) -> dict[str, Any]:
        return {
            "alpha_hessian_eig": self.eigenvalue,
            "alpha_hessian_path": self.path,
            "alpha_hessian_products": self.products,
            "alpha_hessian_converged": self.converged,
            "alpha_hessian_s": self.seconds,
        }


@dataclass(frozen=True)
class AlphaCurvature:
    """Dominant eigenvalue of ∇²_α L_val(w, α) on a fixed batch set (its image-weighted mean loss), through the
    method's relaxation (``mixture``; softmax(α) by default).

    Config node ``algo.hessian``: ``images`` held-out images in batches of ``batch_size``, measured after every
    ``every``-th epoch and after the last. The path follows the size of α, never the space's name: the exact
    Hessian (one product per α entry, then ``eigvalsh``) when α has at most ``exact_max`` entries, else power
    iteration on Hessian-vector products (at most ``iters`` products per run, relative tolerance ``tol``).
    BN runs in train mode (batch statistics), as RobustDARTS's ``compute_Hw`` runs right after the train loop;
    the running statistics are restored afterwards, so tracking never changes the search.
    """

    images: int = 64
    batch_size: int = 64
    exact_max: int = 64
    iters: int = 100
    tol: float = 1e-4
    every: int = 1

    def __post_init__(self) -> None:
        if min(self.images, self.batch_size, self.iters, self.every) < 1 or self.exact_max < 0 or self.tol <= 0:
            raise ValueError(
                "algo.hessian needs images, batch_size, iters, every >= 1, exact_max >= 0 and tol > 0; got "
                f"{self.images}, {self.batch_size}, {self.iters}, {self.every}, {self.exact_max}, {self.tol}"
            )

    def tracked(self, epoch: int, epochs: int) -> bool:
        """Whether the eigenvalue is computed after ``epoch`` (0-based): every ``every`` epochs and the last."""
        return epoch % self.every == 0 or epoch == epochs - 1

    def batches(
        self,
        split: ImageSplit,
        generator: torch.Generator,
        mean: Sequence[float],
        std: Sequence[float],
        device: Any = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> list[Batch]:
        """The fixed batch set of a run (:func:`fixed_batches` with this node's sizes)."""
        return fixed_batches(
            split,
            images=self.images,
            batch_size=self.batch_size,
            generator=generator,
            mean=mean,
            std=std,
            device=device,
            dtype=dtype,
        )

    def __call__(
        self,
        model: nn.Module,
        alphas: Mapping[str, torch.Tensor],
        batches: Sequence[Batch],
        generator: torch.Generator,
        mixture: MixtureOf | None = None,
    ) -> CurvatureResult:
        t0 = time.perf_counter()
        leaves = [a.detach().clone().requires_grad_() for a in alphas.values()]
        buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
        was_training = model.training
        model.train()
        try:
            with distributed.rank_local():  # every rank has the same images: no BN collectives, no rank can hang
                loss = val_loss(model, list(alphas), leaves, batches, mixture)
                eig, path, products, converged = self._eigenvalue(loss, leaves, generator)
        finally:
            with torch.no_grad():
                for k, v in model.named_buffers():
                    v.copy_(buffers[k])
            model.train(was_training)
        return CurvatureResult(eig, path, products, converged, time.perf_counter() - t0)

    def _eigenvalue(
        self, loss: Callable[[], torch.Tensor], leaves: list[torch.Tensor], generator: torch.Generator
    ) -> tuple[float, str, int, bool]:
        """(λ_max, path, Hessian-vector products, converged): exact up to ``exact_max`` α entries, else power."""
        if sum(a.numel() for a in leaves) <= self.exact_max:
            h = exact_hessian(loss, leaves)
            return max_eigenvalue(h), "exact", h.shape[0], True
        res = dominant_eigenvalue(hvp_operator(loss, leaves), leaves, generator, self.iters, self.tol)
        return res.eigenvalue, "power", res.iterations, res.converged


def softmax_mixture(alphas: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """DARTS's relaxation: softmax over the ops of each edge."""
    return {n: a.softmax(dim=-1) for n, a in alphas.items()}


def val_loss(
    model: nn.Module,
    names: Sequence[str],
    alphas: Sequence[torch.Tensor],
    batches: Sequence[Batch],
    mixture: MixtureOf | None = None,
) -> Callable[[], torch.Tensor]:
    """L_val at ``alphas`` as the α step sees it (the method's mixture, no penalty), averaged over ``batches``
    weighted by their sizes."""
    total = sum(len(y) for _, y in batches)
    mixture_of = mixture or softmax_mixture

    def loss() -> torch.Tensor:
        named = dict(zip(names, alphas))
        terms = [F.cross_entropy(model(x, mixture_of(named)), y) * (len(y) / total) for x, y in batches]
        return torch.stack(terms).sum()

    return loss
