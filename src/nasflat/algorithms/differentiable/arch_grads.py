"""α-gradient strategies: what distinguishes DARTS (1st/2nd order), A²M and NA-DARTS (docs/methods.md).

Each strategy is a small callable ``strategy(problem, alphas) -> grads``: ``alphas`` are the relaxation's raw
parameters (a list in ``problem.names`` order), the returned list is the gradient written into ``alpha.grad``
before the α optimizer's step. Strategies evaluate the α objective at explicit α values through
:class:`~nasflat.algorithms.differentiable.problem.AlphaProblem`, so they work with any relaxation and objective;
``check(relaxation, objective)`` refuses the combinations a strategy cannot honour, before any work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch

from nasflat.algorithms.differentiable.objectives import Objective
from nasflat.algorithms.differentiable.problem import AlphaProblem, Tensors
from nasflat.algorithms.differentiable.relaxations.base import Relaxation


class ArchGradient(Protocol):
    """``strategy(problem, alphas) -> grads``; ``passes`` = forward+backward passes per α step."""

    name: str
    passes: int

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors: ...

    def check(self, relaxation: Relaxation, objective: Objective) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class _Strategy:
    """Shared defaults: works with every relaxation and objective; describes itself by name."""

    name = ""

    def check(self, relaxation: Relaxation, objective: Objective) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


# ---- DARTS ---------------------------------------------------------------------------------------------------------
class FirstOrder(_Strategy):
    """DARTS 1st order: ∇_α L_α(w, α) at the current weights (docs/methods.md#darts)."""

    name = "first_order"
    passes = 1

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors:
        return problem.reduce(problem.grad(alphas))


class Unrolled(_Strategy):
    """DARTS 2nd order (quark0 ``_backward_step_unrolled``, docs/methods.md#darts).

    ∇_α L_val(w', α) - ξ ∇²_{α,w} L_train(w, α) v, with w' one virtual SGD step (ξ = the current weight lr) and
    v = ∇_{w'} L_val(w', α); the mixed term is a central difference at w ± R v with R = r / ||v||.
    """

    name = "second_order"
    passes = 4

    def __init__(self, r: float = 0.01) -> None:
        if r <= 0:
            raise ValueError(f"arch_grad.r={r}: the finite-difference scale must be > 0 (quark0 uses 0.01)")
        self.r = r

    def check(self, relaxation: Relaxation, objective: Objective) -> None:
        if relaxation.stochastic:
            raise ValueError(
                f"second-order DARTS differences losses at w ± Rv, which a stochastic relaxation "
                f"({relaxation.name}) makes meaningless; use arch_grad=first_order (or a2m)"
            )
        if not objective.bilevel:
            raise ValueError(
                f"second-order DARTS unrolls the bilevel problem; objective={objective.name} has no inner problem "
                "to unroll: use objective=bilevel or arch_grad=first_order"
            )

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


class A2M(_Strategy):
    """Architecture-Aware Minimization (docs/methods.md#a2m: main variant and ``dartspt``).

    main:    α̃ = α + ρ∇L(α) (not normalized), g̃ = ∇L(α̃), h = [∇L(α̃ + εg̃) - ∇L(α̃ - εg̃)] / 2ε, G = g̃ + ρh.
    dartspt: the same g̃, but h is taken around α (α restored first) and G = g + ρh.
    Four forward/backward passes, all on the same α batch, the same weights (and the same relaxation draw).
    """

    name = "a2m"
    passes = 4
    VARIANTS = ("main", "dartspt")

    def __init__(self, rho: float = 1e-2, epsilon: float = 1e-2, variant: Literal["main", "dartspt"] = "main") -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"arch_grad.variant={variant!r}: expected one of {', '.join(self.VARIANTS)}")
        if epsilon <= 0:
            raise ValueError(f"arch_grad.epsilon={epsilon}: A²M's finite-difference step must be > 0")
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


def _op_logits(problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [alphas[i] for i in problem.op_positions]


class NeighborhoodExpected(_Strategy):
    """NA-DARTS (a), the default: the α objective evaluated at the closed-form expected-neighbour mixture.

    The relaxation's op distribution p_e is replaced by the marginal of a uniformly drawn neighbour (within
    ``radius`` op changes over all edges of all cells, the centre included if asked) before the relaxation's own
    step, a mean-field surrogate of mean_{a' in N(a)} L_val(w, a'). One pass per step, like first-order DARTS.
    An implementer's choice (docs/methods.md#na-darts): the paper's exact differentiable neighbourhood is unknown.
    """

    name = "na_expected"
    passes = 1

    def __init__(self, radius: int = 1, include_centre: bool = False) -> None:
        self.radius, self.include_centre = radius, include_centre

    def lam(self, ops: Sequence[torch.Tensor]) -> float:
        """λ for op logits ``ops`` (one (E, K) tensor per cell type)."""
        return neighborhood_lambda(sum(a.shape[0] for a in ops), ops[0].shape[-1], self.radius, self.include_centre)

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors:
        lam = self.lam(_op_logits(problem, alphas))
        return problem.reduce(problem.grad(alphas, transform=lambda p: expected_neighbor(p, lam)))

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


class NeighborhoodSampled(_Strategy):
    """NA-DARTS (b): mean of the α objective over ``samples`` sampled neighbours (and the centre, if asked).

    Each neighbour permutes the op logits of d edges (relaxation extras such as PC-DARTS's edge β are left
    as they are). Unbiased for the neighbourhood mean at the derived architecture's op choices; costs ``samples``
    (+1) passes. All ranks draw the same neighbours (the harness keeps the generator identical on every rank).
    """

    name = "na_sampled"

    def __init__(self, samples: int = 4, radius: int = 1, include_centre: bool = False) -> None:
        if samples < 1:
            raise ValueError(f"arch_grad.samples={samples}: NA-DARTS needs at least one sampled neighbour")
        self.samples, self.radius, self.include_centre = samples, radius, include_centre

    @property
    def passes(self) -> int:
        return self.samples + int(self.include_centre)

    def __call__(self, problem: AlphaProblem, alphas: Sequence[torch.Tensor]) -> Tensors:
        if problem.generator is None:
            raise ValueError("sampled NA-DARTS needs a generator (problem.generator) to draw neighbours")
        positions = problem.op_positions
        total = problem.grad(alphas) if self.include_centre else [torch.zeros_like(a) for a in alphas]
        for _ in range(self.samples):
            index = sample_neighbor_index(_op_logits(problem, alphas), self.radius, problem.generator)
            g = problem.grad(alphas, remap=lambda a, idx=index: _permuted(a, positions, idx))
            total = [t + gi for t, gi in zip(total, g)]
        return problem.reduce([t / self.passes for t in total])

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "samples": self.samples,
            "radius": self.radius,
            "include_centre": self.include_centre,
        }


def _permuted(alphas: Sequence[torch.Tensor], positions: list[int], index: list[torch.Tensor]) -> Tensors:
    """``alphas`` with the op logits at ``positions`` gathered by ``index`` (differentiable)."""
    out = list(alphas)
    for i, idx in zip(positions, index):
        out[i] = alphas[i].gather(-1, idx)
    return out


def neighborhood_aware(
    mode: Literal["expected", "sampled"] = "expected", radius: int = 1, include_centre: bool = False, samples: int = 4
) -> NeighborhoodExpected | NeighborhoodSampled:
    """NA-DARTS's α-gradient: ``expected`` (closed-form mixture, default) or ``sampled`` (``samples`` neighbours)."""
    if mode == "expected":
        return NeighborhoodExpected(radius=radius, include_centre=include_centre)
    if mode == "sampled":
        return NeighborhoodSampled(samples=samples, radius=radius, include_centre=include_centre)
    raise ValueError(f"arch_grad.mode={mode!r}: expected 'expected' or 'sampled'")
