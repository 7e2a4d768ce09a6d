"""Architecture-gradient strategies: what distinguishes DARTS (1st/2nd order), A²M and NA-DARTS.

Each strategy is a small callable ``strategy(problem, alphas) -> grads``: ``alphas`` are the raw logits (one
(E, K) tensor per cell type), the returned list is the gradient to write into ``alpha.grad`` before the α
optimizer's step. Strategies never touch the α parameters in place; they evaluate the loss at explicit α values
through :class:`AlphaProblem`, which knows the supernet, the batches and the α-only penalty.

Gradients taken with ``torch.autograd.grad`` bypass DDP's hooks, so every gradient that steers a later pass
(A²M's ascent direction, the unrolled step's virtual weights) and the final result go through
``problem.reduce`` (an all-reduce mean across ranks; a no-op in one process).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nasflat import distributed

Batch = tuple[torch.Tensor, torch.Tensor]
Tensors = list[torch.Tensor]
Relax = Callable[[Sequence[torch.Tensor]], Tensors]  # raw alphas -> per-edge op weights


def softmax_relax(alphas: Sequence[torch.Tensor]) -> Tensors:
    """DARTS's relaxation: softmax over the ops of each edge."""
    return [a.softmax(dim=-1) for a in alphas]


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
    """Everything an α-gradient strategy may evaluate: the α objective (val batch) and the train loss."""

    model: nn.Module
    names: tuple[str, ...]  # cell types, in the order of the alphas lists
    val_batch: Batch
    train_batch: Batch | None = None
    penalty: Callable[[Sequence[torch.Tensor]], torch.Tensor] | None = None  # α-only term of the α objective
    forward_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. DARTS-'s aux_skip weight
    sgd: VirtualSGD | None = None  # needed by the unrolled (2nd-order) strategy
    generator: torch.Generator | None = None  # needed by sampled-neighbour strategies

    def loss(
        self,
        alphas: Sequence[torch.Tensor],
        *,
        batch: str = "val",
        params: Mapping[str, torch.Tensor] | None = None,
        relax: Relax | None = None,
    ) -> torch.Tensor:
        """CE of the supernet mixture at ``alphas`` (+ the penalty on the val batch); ``params`` swap weights."""
        x, y = self.val_batch if batch == "val" else self._train()
        weights = dict(zip(self.names, (relax or softmax_relax)(alphas)))
        if params is None:
            logits = self.model(x, weights, **self.forward_kwargs)
        else:
            logits = functional_call(self.model, dict(params), (x, weights), self.forward_kwargs)
        loss = F.cross_entropy(logits, y)
        if batch == "val" and self.penalty is not None:
            loss = loss + self.penalty(alphas)
        return loss

    def grad(self, alphas: Sequence[torch.Tensor], **kwargs: Any) -> Tensors:
        """∇_α of :meth:`loss` at the given values (detached leaf copies; nothing is modified)."""
        leaf = [a.detach().requires_grad_() for a in alphas]
        return list(torch.autograd.grad(self.loss(leaf, **kwargs), leaf))

    def reduce(self, grads: Tensors) -> Tensors:
        """Average across ranks in place (gradients from autograd.grad are not all-reduced by DDP)."""
        distributed.all_reduce_mean(grads)
        return grads

    def _train(self) -> Batch:
        if self.train_batch is None:
            raise ValueError("this α-gradient strategy needs the train batch (second-order DARTS)")
        return self.train_batch


class ArchGradient(Protocol):
    """``strategy(problem, alphas) -> grads``; ``passes`` = forward+backward passes per α step."""

    name: str
    passes: int

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors: ...

    def describe(self) -> dict[str, Any]: ...


# ---- DARTS ---------------------------------------------------------------------------------------------------------
class FirstOrder:
    """DARTS 1st order: ∇_α L_val(w, α) at the current weights (docs/methods.md#darts)."""

    name = "first_order"
    passes = 1

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors:
        return problem.reduce(problem.grad(alphas))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


class Unrolled:
    """DARTS 2nd order (quark0 ``_backward_step_unrolled``, docs/methods.md#darts).

    ∇_α L_val(w', α) - ξ ∇²_{α,w} L_train(w, α) v, with w' one virtual SGD step (ξ = the current weight lr) and
    v = ∇_{w'} L_val(w', α); the mixed term is a central difference at w ± R v with R = r / ||v||.
    """

    name = "second_order"
    passes = 4

    def __init__(self, r: float = 0.01) -> None:
        if r <= 0:
            raise ValueError(f"the finite-difference scale r must be > 0, got {r}")
        self.r = r

    def virtual_weights(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """w' = w - ξ (μ·buffer + ∇_w L_train(w, α) + λ w), detached (the weights are not modified)."""
        sgd = problem.sgd
        if sgd is None:
            raise ValueError("second-order DARTS needs the weight optimizer's state (problem.sgd)")
        params = dict(problem.model.named_parameters())
        fixed = [a.detach() for a in alphas]
        grads = problem.reduce(list(torch.autograd.grad(problem.loss(fixed, batch="train"), list(params.values()))))
        out = {}
        for (name, w), g in zip(params.items(), grads):
            step = g + sgd.weight_decay * w.detach()
            buf = sgd.buffers.get(name)
            if buf is not None:
                step = step + sgd.momentum * buf
            out[name] = w.detach() - sgd.lr * step
        return out

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors:
        assert problem.sgd is not None
        lr = problem.sgd.lr
        unrolled = {n: t.requires_grad_() for n, t in self.virtual_weights(problem, alphas).items()}
        # the unrolled model is a copy in quark0: its BN running-stat updates must not reach the real supernet
        buffers = {n: b.clone() for n, b in problem.model.named_buffers()}
        leaf = [a.detach().requires_grad_() for a in alphas]
        loss = problem.loss(leaf, batch="val", params={**unrolled, **buffers})
        grads = torch.autograd.grad(loss, [*leaf, *unrolled.values()])
        dalpha, v = list(grads[: len(leaf)]), problem.reduce(list(grads[len(leaf) :]))
        radius = self.r / torch.cat([t.reshape(-1) for t in v]).norm()
        params = {n: w.detach() for n, w in problem.model.named_parameters()}
        plus = {n: w + radius * d for (n, w), d in zip(params.items(), v)}
        minus = {n: w - radius * d for (n, w), d in zip(params.items(), v)}
        g_plus = problem.grad(alphas, batch="train", params=plus)
        g_minus = problem.grad(alphas, batch="train", params=minus)
        return problem.reduce([d - lr * (p - m) / (2 * radius) for d, p, m in zip(dalpha, g_plus, g_minus)])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "r": self.r}


# ---- A²M -----------------------------------------------------------------------------------------------------------
@dataclass
class A2MTerms:
    """The intermediate quantities of one A²M step (exposed for numerical checks and logging)."""

    g: Tensors  # ∇L(α)
    alpha_tilde: Tensors  # α + ρ g
    g_tilde: Tensors  # ∇L(α̃)
    hvp: Tensors  # central difference ≈ ∇²L(centre) g̃, centre = α̃ (main) or α (dartspt)
    grad: Tensors  # the update written into α.grad


class A2M:
    """Architecture-Aware Minimization (docs/methods.md#a2m: main variant and ``dartspt``).

    main:    α̃ = α + ρ∇L(α) (not normalized), g̃ = ∇L(α̃), h = [∇L(α̃ + εg̃) - ∇L(α̃ - εg̃)] / 2ε, G = g̃ + ρh.
    dartspt: the same g̃, but h is taken around α (α restored first) and G = g + ρh.
    Four forward/backward passes, all on the same α batch and the current weights.
    """

    name = "a2m"
    passes = 4
    VARIANTS = ("main", "dartspt")

    def __init__(self, rho: float = 1e-2, epsilon: float = 1e-2, variant: Literal["main", "dartspt"] = "main") -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"A²M variant {variant!r}: expected one of {', '.join(self.VARIANTS)}")
        if epsilon <= 0:
            raise ValueError(f"A²M's finite-difference epsilon must be > 0, got {epsilon}")
        self.rho, self.epsilon, self.variant = rho, epsilon, variant

    def terms(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> A2MTerms:
        a0 = [a.detach() for a in alphas]
        g = problem.reduce(problem.grad(a0))  # pass 1
        at = [a + self.rho * d for a, d in zip(a0, g)]
        gt = problem.reduce(problem.grad(at))  # pass 2
        centre = at if self.variant == "main" else a0
        eps = self.epsilon
        g_plus = problem.grad([c + eps * d for c, d in zip(centre, gt)])  # pass 3
        g_minus = problem.grad([c - eps * d for c, d in zip(centre, gt)])  # pass 4
        hvp = [(p - m) / (2 * eps) for p, m in zip(g_plus, g_minus)]
        base = gt if self.variant == "main" else g
        grad = problem.reduce([b + self.rho * h for b, h in zip(base, hvp)])
        return A2MTerms(g=g, alpha_tilde=at, g_tilde=gt, hvp=hvp, grad=grad)

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors:
        return self.terms(problem, alphas).grad

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "rho": self.rho, "epsilon": self.epsilon, "variant": self.variant}


# ---- NA-DARTS ------------------------------------------------------------------------------------------------------
def neighborhood_sizes(edges: int, ops: int, radius: int) -> list[int]:
    """Number of architectures at exactly d = 1..radius op changes on ``edges`` edges of ``ops`` ops each."""
    if not 1 <= radius <= edges:
        raise ValueError(f"neighbourhood radius must be in 1..{edges}, got {radius}")
    return [math.comb(edges, d) * (ops - 1) ** d for d in range(1, radius + 1)]


def neighborhood_lambda(edges: int, ops: int, radius: int = 1, include_centre: bool = False) -> float:
    """Probability that a given edge differs from the centre, for a uniform draw from the neighbourhood.

    The neighbourhood is every architecture within ``radius`` op changes (plus the centre itself when
    ``include_centre``); radius 1 on NB201 gives 1/6 (24 neighbours, each changing one of 6 edges).
    """
    sizes = neighborhood_sizes(edges, ops, radius)
    changed = sum(n * d / edges for d, n in enumerate(sizes, start=1))
    return changed / (sum(sizes) + int(include_centre))


def expected_neighbor(probs: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-edge marginal of a random neighbour: keep the op w.p. 1 - λ, else a uniform *other* op.

    (1 - λ) p + λ (1 - p) / (K - 1); rows still sum to one.
    """
    k = probs.shape[-1]
    return (1 - lam) * probs + lam * (1 - probs) / (k - 1)


class NeighborhoodExpected:
    """NA-DARTS (a), the default: the α objective evaluated at the closed-form expected-neighbour mixture.

    The mixture replaces softmax(α_e) by the marginal of a uniformly drawn neighbour (within ``radius`` op
    changes over all edges of all cells, the centre included if asked), a mean-field surrogate of
    mean_{a' in N(a)} L_val(w, a'). One pass per step, like first-order DARTS. An implementer's choice
    (docs/methods.md#na-darts): the paper's exact differentiable neighbourhood is unknown.
    """

    name = "na_expected"
    passes = 1

    def __init__(self, radius: int = 1, include_centre: bool = False) -> None:
        self.radius, self.include_centre = radius, include_centre

    def lam(self, alphas: Sequence[torch.Tensor]) -> float:
        return neighborhood_lambda(
            sum(a.shape[0] for a in alphas), alphas[0].shape[-1], self.radius, self.include_centre
        )

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors:
        lam = self.lam(alphas)
        return problem.reduce(
            problem.grad(alphas, relax=lambda a: [expected_neighbor(p, lam) for p in softmax_relax(a)])
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "radius": self.radius, "include_centre": self.include_centre}


def sample_neighbor_index(
    alphas: Sequence[torch.Tensor], radius: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """Op permutations (one (E, K) index per cell) that move α to a random neighbour of its derived architecture.

    Draw the distance d in 1..radius with probability proportional to the number of neighbours at d, then d
    distinct edges over all cells; on each, swap the logits of the current argmax op and a uniformly chosen
    other op. The argmax of ``alpha.gather(-1, index)`` is then a d-hop neighbour of the argmax of α.
    """
    counts = [a.shape[0] for a in alphas]
    edges, ops = sum(counts), alphas[0].shape[-1]
    sizes = torch.tensor(neighborhood_sizes(edges, ops, radius), dtype=torch.float64)
    d = 1 + int(torch.multinomial(sizes, 1, generator=generator)) if radius > 1 else 1
    chosen = torch.randperm(edges, generator=generator)[:d].tolist()
    shifts = (1 + torch.randint(ops - 1, (d,), generator=generator)).tolist()
    tops = torch.cat([a.detach().argmax(dim=-1).cpu() for a in alphas]).tolist()
    index = torch.arange(ops).repeat(edges, 1)  # (E_total, K)
    for e, s in zip(chosen, shifts):
        m, o = tops[e], (tops[e] + s) % ops
        index[e, m], index[e, o] = o, m
    return [part.to(a.device) for part, a in zip(index.split(counts), alphas)]


class NeighborhoodSampled:
    """NA-DARTS (b): mean of the α objective over ``samples`` sampled neighbours (and the centre, if asked).

    Unbiased for the neighbourhood mean at the derived architecture's op choices; costs ``samples`` (+1) passes.
    All ranks draw the same neighbours (the generator is seeded identically), so only gradients are averaged.
    """

    name = "na_sampled"

    def __init__(self, samples: int = 4, radius: int = 1, include_centre: bool = False) -> None:
        if samples < 1:
            raise ValueError(f"NA-DARTS needs at least one sampled neighbour, got samples={samples}")
        self.samples, self.radius, self.include_centre = samples, radius, include_centre

    @property
    def passes(self) -> int:
        return self.samples + int(self.include_centre)

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors:
        if problem.generator is None:
            raise ValueError("sampled NA-DARTS needs a generator (problem.generator) to draw neighbours")
        total = problem.grad(alphas) if self.include_centre else [torch.zeros_like(a) for a in alphas]
        for _ in range(self.samples):
            index = sample_neighbor_index(alphas, self.radius, problem.generator)
            g = problem.grad(
                alphas, relax=lambda a, idx=index: softmax_relax([t.gather(-1, i) for t, i in zip(a, idx)])
            )
            total = [t + gi for t, gi in zip(total, g)]
        return problem.reduce([t / self.passes for t in total])

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "samples": self.samples,
            "radius": self.radius,
            "include_centre": self.include_centre,
        }


def neighborhood_aware(
    mode: Literal["expected", "sampled"] = "expected", radius: int = 1, include_centre: bool = False, samples: int = 4
) -> NeighborhoodExpected | NeighborhoodSampled:
    """NA-DARTS's α-gradient: ``expected`` (closed-form mixture, default) or ``sampled`` (``samples`` neighbours)."""
    if mode == "expected":
        return NeighborhoodExpected(radius=radius, include_centre=include_centre)
    if mode == "sampled":
        return NeighborhoodSampled(samples=samples, radius=radius, include_centre=include_centre)
    raise ValueError(f"NA-DARTS mode={mode!r}: expected 'expected' or 'sampled'")
