"""Float64 numerical checks of the α-gradient strategies against exact autograd computations."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from nasflat.algorithms.differentiable.arch_grads import (
    A2M,
    FirstOrder,
    NeighborhoodExpected,
    NeighborhoodSampled,
    Unrolled,
    expected_neighbor,
    neighborhood_lambda,
    sample_neighbor_index,
)
from nasflat.algorithms.differentiable.modifiers import (
    beta_darts_lambda,
    beta_darts_penalty,
    clip_rows,
    darts_minus_beta,
    sdarts_epsilon,
    sdarts_rs_perturb,
)
from nasflat.algorithms.differentiable.problem import AlphaProblem, VirtualSGD
from nasflat.algorithms.differentiable.relaxations.softmax import Softmax
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import NB201Space


def problem(model, names, val, train=None, **kwargs) -> AlphaProblem:
    """The α problem of the softmax relaxation on NB201 (names: the α list order)."""
    return AlphaProblem(model, Softmax().bind(NB201Space()), names, val, train, **kwargs)


def rel_err(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    fa, fb = torch.cat([t.reshape(-1) for t in a]), torch.cat([t.reshape(-1) for t in b])
    return float((fa - fb).norm() / fb.norm())


def flat_dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def smooth(module: torch.nn.Module) -> torch.nn.Module:
    """Swap every ReLU for SiLU: finite differences at the default scales then see a smooth loss.

    With ReLUs, a finite difference whose step moves some pre-activation across 0 picks up the kink's jump
    divided by the step; at DARTS's R = 0.01/||v|| that happens in a tiny float64 net, so the estimator's
    *formula* is checked on the ReLU net with a small step and its default step on the smooth net.
    """
    for name, child in module.named_children():
        if isinstance(child, torch.nn.ReLU):
            setattr(module, name, torch.nn.SiLU())
        else:
            smooth(child)
    return module


# finite-difference scale (A²M's ε; Unrolled's r unless a test says otherwise) per activation; None = default
SCALES = {"smooth": None, "relu": 1e-6}


@pytest.fixture(scope="module", params=list(SCALES))
def nb201_problem(request):
    """A tiny float64 NB201 supernet, a train and a val batch, α far from uniform (so curvature matters)."""
    torch.manual_seed(0)
    space = NB201Space()
    # the per-op kernel: smoothing swaps ReLU modules, which the grouped kernel does not call (it is the same maths)
    model = space.supernet(5, C=4, N=1, kernel="per_op").double()
    if request.param == "smooth":
        smooth(model)
    g = torch.Generator().manual_seed(1)
    val = (torch.randn(8, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 5, (8,), generator=g))
    train = (torch.randn(8, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 5, (8,), generator=g))
    alphas = [torch.randn(6, 5, generator=g, dtype=torch.float64)]
    return model, ("cell",), val, train, alphas, SCALES[request.param]


def test_first_order_is_the_plain_alpha_gradient(nb201_problem):
    model, names, val, _, alphas, _ = nb201_problem
    p = problem(model, names, val)
    a = alphas[0].clone().requires_grad_()
    (exact,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(val[0], {"cell": a.softmax(-1)}), val[1]), a)
    assert rel_err(FirstOrder()(p, alphas), [exact]) < 1e-12


# r per activation and the tolerance: quark0's default r = 0.01 carries an O(R²) truncation error (~6e-4 here)
UNROLLED_CASES = {"smooth": [(0.01, 1e-3), (1e-3, 1e-4)], "relu": [(1e-6, 1e-4)]}


def test_second_order_matches_autograd_of_the_unrolled_objective(nb201_problem, request):
    model, names, val, train, alphas, _ = nb201_problem
    kind = request.node.callspec.params["nb201_problem"]
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(2)
    buffers = {n: 0.01 * torch.randn(w.shape, generator=g, dtype=w.dtype) for n, w in params.items()}
    sgd = VirtualSGD(lr=0.1, momentum=0.9, weight_decay=3e-4, buffers=buffers)
    p = problem(model, names, val, train, sgd=sgd)

    bn = {n: b.clone() for n, b in model.named_buffers()}

    def unrolled_objective(a: torch.Tensor) -> torch.Tensor:
        """L_val(w'(α), α) with w'(α) = w - ξ(μ·buf + ∇_w L_train(w, α) + λw), differentiated through w'(α)."""
        lt = p.loss([a], batch="train")
        gw = torch.autograd.grad(lt, list(params.values()), create_graph=True)
        w1 = {
            n: w - sgd.lr * (sgd.momentum * buffers[n] + gi + sgd.weight_decay * w)
            for (n, w), gi in zip(params.items(), gw)
        }
        return p.loss([a], batch="val", params={**w1, **bn})

    a = alphas[0].clone().requires_grad_()
    (exact,) = torch.autograd.grad(unrolled_objective(a), a)
    # the implicit (mixed second-derivative) term must matter, or the check would be vacuous
    w1 = Unrolled().virtual_weights(p, alphas)
    first_order_at_w1 = p.grad(alphas, params={**w1, **bn})
    assert rel_err(first_order_at_w1, [exact]) > 1e-3
    for r, tol in UNROLLED_CASES[kind]:
        err = rel_err(Unrolled(r=r)(p, alphas), [exact])
        print(f"second-order DARTS ({kind}, r={r}) vs autograd: relative error {err:.2e}")
        assert err < tol


@pytest.mark.parametrize("variant", ["main", "dartspt"])
def test_a2m_finite_difference_matches_exact_hvp(nb201_problem, variant):
    model, names, val, _, alphas, scale = nb201_problem
    p = problem(model, names, val)
    a2m = A2M(rho=1e-2, epsilon=scale or 1e-2, variant=variant)
    t = a2m.terms(p, alphas)
    centre = t.alpha_tilde if variant == "main" else alphas  # main: Hessian at α̃ (the code's choice)
    a = [c.clone().requires_grad_() for c in centre]
    g = torch.autograd.grad(p.loss(a), a, create_graph=True)
    exact = list(torch.autograd.grad(flat_dot(list(g), t.g_tilde), a))
    err = rel_err(t.hvp, exact)
    print(f"A²M ({variant}, ε={a2m.epsilon}) finite-difference HVP vs autograd: relative error {err:.2e}")
    assert err < 1e-4
    # and the update is assembled from the right pieces
    base = t.g_tilde if variant == "main" else t.g
    assert rel_err(t.grad, [b + 1e-2 * h for b, h in zip(base, t.hvp)]) < 1e-14
    assert rel_err(t.alpha_tilde, [x + 1e-2 * gi for x, gi in zip(alphas, t.g)]) < 1e-14


class QuadraticProblem:
    """L(α) = ½ αᵀAα + bᵀα on a flattened α: the A²M update has a closed form."""

    def __init__(self, A: torch.Tensor, b: torch.Tensor, shape: tuple[int, int]) -> None:
        self.A, self.b, self.shape = A, b, shape

    def grad(self, alphas, **_):
        a = alphas[0].detach().reshape(-1).requires_grad_()
        loss = 0.5 * a @ self.A @ a + self.b @ a
        return [torch.autograd.grad(loss, a)[0].reshape(self.shape)]

    def reduce(self, grads):
        return grads


def test_a2m_update_equals_hand_derived_G_on_a_quadratic():
    g = torch.Generator().manual_seed(3)
    n, shape = 6, (2, 3)
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    A, b = m @ m.T + torch.eye(n, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    alpha = torch.randn(n, generator=g, dtype=torch.float64)
    rho, eps = 0.05, 1e-2
    grad = lambda a: A @ a + b  # noqa: E731
    g0 = grad(alpha)
    at = alpha + rho * g0
    gt = grad(at)
    expected_main = gt + rho * (A @ gt)  # G = g̃ + ρ H g̃ (H = A everywhere)
    expected_pt = g0 + rho * (A @ gt)  # DARTS-PT: G = g + ρ H g̃
    prob = QuadraticProblem(A, b, shape)
    main = A2M(rho=rho, epsilon=eps)(prob, [alpha.reshape(shape)])[0].reshape(-1)
    pt = A2M(rho=rho, epsilon=eps, variant="dartspt")(prob, [alpha.reshape(shape)])[0].reshape(-1)
    assert torch.allclose(main, expected_main, rtol=1e-10, atol=1e-12)
    assert torch.allclose(pt, expected_pt, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(main, expected_pt)  # the two variants really differ


def test_a2m_rejects_unknown_variant():
    with pytest.raises(ValueError, match="dartspt"):
        A2M(variant="sam")


# ---- NA-DARTS -----------------------------------------------------------------------------------------------------
def test_neighborhood_lambda_counts():
    assert neighborhood_lambda(6, 5, 1) == pytest.approx(1 / 6)
    assert neighborhood_lambda(6, 5, 1, include_centre=True) == pytest.approx(24 / 25 / 6)
    # radius 2: 24 one-hop (1/6 of edges changed) + 240 two-hop (2/6)
    assert neighborhood_lambda(6, 5, 2) == pytest.approx((24 / 6 + 240 * 2 / 6) / 264)
    assert neighborhood_lambda(28, 8, 1) == pytest.approx(1 / 28)


@pytest.mark.parametrize("radius,centre", [(1, False), (1, True), (2, False)])
def test_expected_neighbor_is_the_exact_mean_of_one_hot_neighbors(radius, centre):
    space = NB201Space()
    arch = space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    hood = space.neighborhood(arch, radius) + ([arch] if centre else [])
    mean = torch.stack([space.one_hot(a, torch.float64)["cell"] for a in hood]).mean(0)
    lam = neighborhood_lambda(6, 5, radius, centre)
    closed = expected_neighbor(space.one_hot(arch, torch.float64)["cell"], lam)
    assert torch.allclose(closed, mean, atol=1e-12)
    assert torch.allclose(closed.sum(-1), torch.ones(6, dtype=torch.float64))


def test_na_expected_gradient_differs_from_darts_and_uses_the_mixture(nb201_problem):
    model, names, val, _, alphas, _ = nb201_problem
    p = problem(model, names, val)
    na = NeighborhoodExpected(radius=1)(p, alphas)
    lam = 1 / 6
    a = alphas[0].clone().requires_grad_()
    w = expected_neighbor(a.softmax(-1), lam)
    (exact,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(val[0], {"cell": w}), val[1]), a)
    assert rel_err(na, [exact]) < 1e-12
    assert rel_err(na, FirstOrder()(p, alphas)) > 1e-2


def test_sampled_neighbors_are_uniform_one_hop_neighbors():
    space = NB201Space()
    g = torch.Generator().manual_seed(0)
    alpha = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    centre = space.derive({"cell": alpha.softmax(-1)})
    counts: Counter = Counter()
    draws = 2400
    for _ in range(draws):
        (idx,) = sample_neighbor_index([alpha], 1, g)
        neighbor = space.derive({"cell": alpha.gather(-1, idx).softmax(-1)})
        assert space.distance(centre, neighbor) == 1
        counts[neighbor] += 1
    assert set(counts) == set(space.neighbors(centre, 1))  # all 24
    chi2 = sum((c - draws / 24) ** 2 / (draws / 24) for c in counts.values())
    assert chi2 < 60  # 23 degrees of freedom: p ~ 3e-5 at 60


def test_sampled_neighbors_radius_two_on_darts_space():
    space = DartsSpace()
    g = torch.Generator().manual_seed(0)
    alphas = [torch.randn(14, 8, generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    tops = torch.cat([a.argmax(-1) for a in alphas])
    dists = Counter()
    for _ in range(300):
        idx = sample_neighbor_index(alphas, 2, g)
        moved = torch.cat([a.gather(-1, i).argmax(-1) for a, i in zip(alphas, idx)])
        dists[int((moved != tops).sum())] += 1
    assert set(dists) == {1, 2}
    n1, n2 = 28 * 7, math.comb(28, 2) * 49  # 2-hop neighbours dominate
    assert dists[2] / 300 == pytest.approx(n2 / (n1 + n2), abs=0.05)
    del space


def test_na_sampled_averages_neighbor_gradients(nb201_problem):
    model, names, val, _, alphas, _ = nb201_problem
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    p = problem(model, names, val, generator=g1)
    ours = NeighborhoodSampled(samples=3, include_centre=True)(p, alphas)
    total = FirstOrder()(problem(model, names, val), alphas)
    for _ in range(3):
        idx = sample_neighbor_index(alphas, 1, g2)
        grads = p.grad(alphas, remap=lambda a, i=idx: [t.gather(-1, j) for t, j in zip(a, i)])
        total = [t + x for t, x in zip(total, grads)]
    assert rel_err(ours, [t / 4 for t in total]) < 1e-12


# ---- modifiers (base methods) ------------------------------------------------------------------------------------
def test_beta_darts_penalty_and_schedule():
    a = {"normal": torch.zeros(14, 7), "reduce": torch.ones(14, 7)}
    # logsumexp of 7 equal logits c is c + log 7
    assert float(beta_darts_penalty(a, {})) == pytest.approx(math.log(7) + 1 + math.log(7))
    assert float(beta_darts_penalty(a, {"reduce": 0.0})) == pytest.approx(math.log(7))
    assert [beta_darts_lambda(t) for t in (0, 1, 49)] == [0.0, 0.5, 24.5]


def test_sdarts_noise_and_clip():
    assert sdarts_epsilon(0, 50) == pytest.approx(0.03) and sdarts_epsilon(25, 50) == pytest.approx(0.165)
    w = torch.tensor([[0.5, -0.2, 1.7], [-0.1, -0.3, -0.2]])
    c = clip_rows(w)
    assert torch.allclose(c[0], torch.tensor([0.5, 0.0, 1.0]) / 1.5)
    assert torch.equal(c[1], torch.tensor([1.0, 0.0, 0.0]))  # all clamped to 0 -> one-hot at argmax (-0.1)
    probs = torch.full((6, 5), 0.2)
    noisy = sdarts_rs_perturb(probs, 0.1, torch.Generator().manual_seed(0))
    assert torch.allclose(noisy.sum(-1), torch.ones(6)) and (noisy >= 0).all()
    assert not torch.allclose(noisy, probs)
    again = sdarts_rs_perturb(probs, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


def test_darts_minus_decay_follows_a2m_scheduler():
    assert [darts_minus_beta(t, 50) for t in (0, 1, 2, 49)] == pytest.approx([1.0, 1.0, 0.98, 0.04])
