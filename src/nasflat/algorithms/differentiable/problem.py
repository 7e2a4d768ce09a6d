"""What an α-gradient strategy may evaluate: the α objective at explicit α values.

docs/methods.md#the-differentiable-harness

:class:`AlphaProblem` turns a list of architecture tensors (the relaxation's parameters, in ``names`` order) into
the relaxation's :class:`~nasflat.spaces.mixture.Mixture`, runs the supernet on the iteration's batches and adds the
α-only penalties (the modifiers' and the relaxation's own). Strategies never modify α in place; they call
:meth:`AlphaProblem.grad` at the values they need. A stochastic relaxation draws its sample from a generator
reseeded with ``draw_seed`` at every evaluation, so all evaluations of one α step see the same draw (common random
numbers: A²M's finite differences then difference the same sample).

Gradients taken with ``torch.autograd.grad`` bypass DDP's hooks, so every gradient that steers a later pass and the
final result go through :meth:`AlphaProblem.reduce` (an all-reduce mean across ranks; a no-op in one process).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nasflat import distributed
from nasflat.algorithms.differentiable.objectives import Bilevel, Objective
from nasflat.algorithms.differentiable.relaxations.base import ProbsTransform, Relaxation
from nasflat.spaces.mixture import Mixture

Batch = tuple[torch.Tensor, torch.Tensor]
Tensors = list[torch.Tensor]
Penalty = Callable[[Mapping[str, torch.Tensor]], "torch.Tensor | None"]
# maps the α list to the list the relaxation reads (NA-DARTS's sampled neighbours permute op logits)
Remap = Callable[[Sequence[torch.Tensor]], Tensors]
BatchName = Literal["objective", "val", "train"]


@dataclass
class VirtualSGD:
    """The weight optimizer's next step, for the unrolled model (quark0 ``_compute_unrolled_model``).

    w' = w - lr * (momentum * buffer + grad + weight_decay * w); Nesterov is ignored, as in quark0.
    """

    lr: float
    momentum: float
    weight_decay: float
    buffers: dict[str, torch.Tensor | None] = field(default_factory=dict)  # momentum buffers by parameter name


@dataclass
class AlphaProblem:
    """The α objective of one iteration: the supernet, the batches, the relaxation and the penalties."""

    model: nn.Module
    relaxation: Relaxation
    names: tuple[str, ...]  # architecture parameters, in the order of the alphas lists
    val_batch: Batch
    train_batch: Batch | None = None
    objective: Objective = field(default_factory=Bilevel)
    penalties: Sequence[Penalty] = ()  # α-only terms of the α objective (β-DARTS; the relaxation's own is added)
    aux_skip: float = 0.0  # DARTS-'s auxiliary skip weight, part of every forward
    sgd: VirtualSGD | None = None  # needed by the unrolled (2nd-order) strategy
    generator: torch.Generator | None = None  # strategies' own draws (NA-DARTS's sampled neighbours)
    draw_seed: int | None = None  # a stochastic relaxation's sample of this α step (common random numbers)

    @property
    def op_positions(self) -> list[int]:
        """Indices (in ``names``) of the op logits, i.e. the space's cell types; the rest are relaxation extras."""
        return [self.names.index(c) for c in self.relaxation.cells]

    def mixture(self, alphas: Sequence[torch.Tensor], transform: ProbsTransform | None = None) -> Mixture:
        """The relaxation's mixture at ``alphas`` (the draw of this step when stochastic), with DARTS-'s skip."""
        g = None if self.draw_seed is None else torch.Generator().manual_seed(self.draw_seed)
        m = self.relaxation.mixture(dict(zip(self.names, alphas)), transform=transform, generator=g)
        return dataclasses.replace(m, aux_skip=self.aux_skip) if self.aux_skip else m

    def loss(
        self,
        alphas: Sequence[torch.Tensor],
        *,
        batch: BatchName = "objective",
        params: Mapping[str, torch.Tensor] | None = None,
        transform: ProbsTransform | None = None,
        remap: Remap | None = None,
    ) -> torch.Tensor:
        """The objective (``batch="objective"``) or the CE on one batch, + the penalties unless ``train``.

        ``params`` swap the weights (functional call), ``transform`` maps the op distribution before the
        relaxation's own step, ``remap`` rewrites the α list before the relaxation reads it.
        """
        relaxed = remap(alphas) if remap is not None else alphas
        terms = self.objective.terms if batch == "objective" else ((batch, 1.0),)
        total = None
        for name, weight in terms:
            ce = self._cross_entropy(name, relaxed, params, transform)
            term = ce if weight == 1.0 else weight * ce
            total = term if total is None else total + term
        assert total is not None
        if batch != "train":
            total = self._penalized(total, alphas)
        return total

    def grad(self, alphas: Sequence[torch.Tensor], **kwargs: object) -> Tensors:
        """∇_α of :meth:`loss` at the given values (detached leaf copies; nothing is modified)."""
        leaf = [a.detach().requires_grad_() for a in alphas]
        grads = torch.autograd.grad(self.loss(leaf, **kwargs), leaf, allow_unused=True)  # type: ignore[arg-type]
        return [torch.zeros_like(a) if g is None else g for a, g in zip(leaf, grads)]

    def reduce(self, grads: Tensors) -> Tensors:
        """Average across ranks in place (gradients from autograd.grad are not all-reduced by DDP)."""
        distributed.all_reduce_mean(grads)
        return grads

    def _cross_entropy(
        self,
        batch: str,
        alphas: Sequence[torch.Tensor],
        params: Mapping[str, torch.Tensor] | None,
        transform: ProbsTransform | None,
    ) -> torch.Tensor:
        x, y = self._batch(batch)
        mixture = self.mixture(alphas, transform)
        logits = self.model(x, mixture) if params is None else functional_call(self.model, dict(params), (x, mixture))
        return F.cross_entropy(logits, y)

    def _penalized(self, loss: torch.Tensor, alphas: Sequence[torch.Tensor]) -> torch.Tensor:
        named = dict(zip(self.names, alphas))
        for penalty in (*self.penalties, self.relaxation.penalty):
            term = penalty(named)
            if term is not None:
                loss = loss + term
        return loss

    def _batch(self, name: str) -> Batch:
        if name == "val":
            return self.val_batch
        if name == "train" and self.train_batch is not None:
            return self.train_batch
        raise ValueError(f"this α objective needs the {name!r} batch (second-order DARTS, MiLeNAS: the train batch)")
