"""DrNAS's relaxation: the Dirichlet sample, its pathwise gradient, the regularizers and derivation (float64)."""

from __future__ import annotations

import math
from importlib import resources

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.distributions.dirichlet import _Dirichlet_backward

from helpers import tiny_relaxed_supernet
from nasflat.algorithms.differentiable.relaxations.dirichlet import Dirichlet, concentration, dirichlet_rsample
from nasflat.spaces.mixture import Mixture

CONFIG = resources.files("nasflat.conf") / "algo" / "relaxation" / "dirichlet.yaml"


class _Space:
    def __init__(self, shapes: dict[str, tuple[int, int]]) -> None:
        self.shapes = shapes

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return dict(self.shapes)


NB201 = _Space({"cell": (6, 5)})
DARTS = _Space({"normal": (14, 8), "reduce": (14, 8)})


def _alphas(shapes: dict[str, tuple[int, int]], seed: int = 0, scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: scale * torch.randn(s, generator=g, dtype=torch.float64) for n, s in shapes.items()}


def test_concentration_is_elu_plus_one() -> None:
    a = torch.tensor([-5.0, -2.0, 0.0, 1.5], dtype=torch.float64)
    expected = torch.tensor([math.exp(-5.0), math.exp(-2.0), 1.0, 2.5], dtype=torch.float64)
    torch.testing.assert_close(concentration(a), expected, rtol=1e-12, atol=0)


def test_sample_is_torch_rsample_seeded_from_the_generator() -> None:
    """Same draw and same gradient as Dirichlet(β).rsample() under a global RNG seeded the way we seed it."""
    alpha = _alphas(NB201.shapes, seed=1)["cell"].requires_grad_()
    c = torch.randn(6, 5, dtype=torch.float64)
    ours = dirichlet_rsample(concentration(alpha), torch.Generator().manual_seed(9))
    g_ours = torch.autograd.grad((c * ours).sum(), alpha)[0]

    alpha_ref = alpha.detach().clone().requires_grad_()
    seed = int(torch.randint(0, 2**62, (), generator=torch.Generator().manual_seed(9)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ref = torch.distributions.Dirichlet(concentration(alpha_ref)).rsample()
    g_ref = torch.autograd.grad((c * ref).sum(), alpha_ref)[0]
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    torch.testing.assert_close(g_ours, g_ref, rtol=0, atol=0)


def test_gradient_is_torch_reparameterized_gradient_of_the_draw() -> None:
    """For the draw x: ∂L/∂α = torch.distributions' Dirichlet backward(x, β, ∂L/∂x) * elu'(α)."""
    relax = Dirichlet().bind(DARTS)
    a = {n: t.requires_grad_() for n, t in _alphas(DARTS.shapes, seed=2, scale=2.0).items()}
    m = relax.mixture(a, generator=torch.Generator().manual_seed(4))
    c = {n: torch.randn(14, 8, dtype=torch.float64) for n in a}
    loss = sum((c[n] * m.weights[n]).pow(2).sum() for n in a)
    grads = torch.autograd.grad(loss, list(a.values()))
    for (n, alpha), grad in zip(a.items(), grads, strict=True):
        x = m.weights[n].detach()
        beta = concentration(alpha.detach())
        u = 2 * c[n] ** 2 * x  # ∂L/∂x
        elu_grad = torch.where(alpha.detach() > 0, 1.0, torch.exp(alpha.detach()))
        torch.testing.assert_close(grad, _Dirichlet_backward(x, beta, u) * elu_grad, rtol=1e-12, atol=1e-15)


def test_pathwise_gradient_is_unbiased_for_the_dirichlet_mean() -> None:
    """E[∂(c·x)/∂β] over draws = ∂(c·β/Σβ)/∂β, within 4 standard errors (20 batches of 2000 draws)."""
    beta0 = torch.tensor([0.5, 1.0, 2.0, 3.5, 0.8], dtype=torch.float64)
    c = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    batch_grads = []
    for _ in range(20):
        beta = beta0.clone().requires_grad_()
        x = dirichlet_rsample(beta.expand(2000, 5), gen)
        batch_grads.append(torch.autograd.grad((x @ c).mean(), beta)[0])
    g = torch.stack(batch_grads)
    beta = beta0.clone().requires_grad_()
    exact = torch.autograd.grad(c @ (beta / beta.sum()), beta)[0]
    se = g.std(0) / 20**0.5
    assert ((g.mean(0) - exact).abs() < 4 * se + 1e-12).all(), (g.mean(0), exact, se)
    assert (se < 0.05 * exact.abs().max()).all()  # the test has power: the errors are small against the gradient


def test_draws_are_reproducible_and_leave_the_global_rng_alone() -> None:
    relax = Dirichlet().bind(DARTS)
    a = _alphas(DARTS.shapes, seed=3)
    state = torch.get_rng_state()
    m1 = relax.mixture(a, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)
    m2 = relax.mixture(a, generator=torch.Generator().manual_seed(5))
    m3 = relax.mixture(a, generator=torch.Generator().manual_seed(6))
    for n in ("normal", "reduce"):
        assert torch.equal(m1.weights[n], m2.weights[n]) and not torch.equal(m1.weights[n], m3.weights[n])
        w = m1.weights[n]
        assert (w > 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(14, dtype=torch.float64), rtol=0, atol=1e-12)
    assert not torch.equal(m1.weights["normal"], m1.weights["reduce"])  # one draw per cell type
    assert m1.index is None and m1.edge_weights is None and Dirichlet.stochastic


def test_transform_applies_to_the_sample() -> None:
    relax = Dirichlet().bind(NB201)
    a = _alphas(NB201.shapes, seed=4)
    plain = relax.mixture(a, generator=torch.Generator().manual_seed(1)).weights["cell"]
    moved = relax.mixture(a, transform=lambda w: w.flip(-1), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(moved.weights["cell"], plain.flip(-1), rtol=0, atol=0)


def test_derivation_reads_softmax_alpha_like_drnas_genotype() -> None:
    relax = Dirichlet().bind(DARTS)
    a = _alphas(DARTS.shapes, seed=5)
    for n in ("normal", "reduce"):
        torch.testing.assert_close(relax.probs(a)[n], a[n].softmax(-1), rtol=0, atol=0)
        torch.testing.assert_close(relax.derive_weights(a)[n], a[n].softmax(-1), rtol=0, atol=0)


def test_l2_penalty_is_drnas_adam_weight_decay() -> None:
    """DrNAS's default: Adam weight_decay = reg_scale on α, i.e. a gradient reg_scale * α."""
    relax = Dirichlet(reg_type="l2", reg_scale=1e-3).bind(DARTS)
    a = {n: t.requires_grad_() for n, t in _alphas(DARTS.shapes, seed=6).items()}
    pen = relax.penalty(a)
    expected = 0.5e-3 * sum((t.detach() ** 2).sum() for t in a.values())
    torch.testing.assert_close(pen.detach(), expected, rtol=1e-14, atol=0)
    for t, g in zip(a.values(), torch.autograd.grad(pen, list(a.values())), strict=True):
        torch.testing.assert_close(g, 1e-3 * t.detach(), rtol=1e-14, atol=0)
    assert Dirichlet(reg_scale=0.0).bind(DARTS).penalty(a) is None


def test_kl_penalty_is_closed_form_kl_to_the_uniform_dirichlet() -> None:
    """reg_scale * Σ_e KL(Dir(β_e) || Dir(1)), KL = lnΓ(β₀) - Σ lnΓ(β_k) - lnΓ(K) + Σ (β_k - 1)(ψ(β_k) - ψ(β₀))."""
    relax = Dirichlet(reg_type="kl", reg_scale=0.5).bind(NB201)
    a = _alphas(NB201.shapes, seed=7, scale=2.0)
    beta = concentration(a["cell"])
    b0 = beta.sum(-1, keepdim=True)
    kl = (
        torch.lgamma(b0.squeeze(-1))
        - torch.lgamma(beta).sum(-1)
        - torch.lgamma(torch.tensor(5.0, dtype=torch.float64))
        + ((beta - 1) * (torch.digamma(beta) - torch.digamma(b0))).sum(-1)
    )
    torch.testing.assert_close(relax.penalty(a), 0.5 * kl.sum(), rtol=1e-12, atol=0)
    assert relax.penalty({"cell": torch.zeros(6, 5, dtype=torch.float64)}).abs() < 1e-12  # β = 1: zero KL


@pytest.mark.parametrize(
    ("options", "key"),
    [({"reg_type": "l1"}, "reg_type"), ({"reg_scale": -1.0}, "reg_scale"), ({"partial_channels": 0}, "partial")],
)
def test_bad_options_are_refused(options: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        Dirichlet(**options)


def test_partial_channels_become_a_supernet_option() -> None:
    assert Dirichlet(partial_channels=6).supernet_options() == {"partial_channels": 6}
    assert Dirichlet().supernet_options() == {}


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_supernet_gradient_is_chain_rule_through_the_sample(space_name: str) -> None:
    """Through a tiny supernet (partial channels 2): ∂L/∂α = Dirichlet backward(x, β, ∂L/∂x) * elu'(α)."""
    torch.manual_seed(0)
    relax = Dirichlet(partial_channels=2)
    net, space = tiny_relaxed_supernet(space_name, relax)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    a = {n: t.requires_grad_() for n, t in _alphas(dict(space.weight_shapes()), seed=8).items()}
    m = relax.mixture(a, generator=torch.Generator().manual_seed(3))
    grads = torch.autograd.grad(net(x, m).pow(2).sum(), list(a.values()))
    leaves = {n: w.detach().clone().requires_grad_() for n, w in m.weights.items()}
    out = net(x, Mixture(weights=leaves))
    us = torch.autograd.grad(out.pow(2).sum(), list(leaves.values()))
    for (n, alpha), grad, u in zip(a.items(), grads, us, strict=True):
        elu_grad = torch.where(alpha.detach() > 0, 1.0, torch.exp(alpha.detach()))
        ref = _Dirichlet_backward(leaves[n].detach(), concentration(alpha.detach()), u) * elu_grad
        torch.testing.assert_close(grad, ref, rtol=1e-9, atol=1e-13)
        assert grad.abs().max() > 0


def test_config_builds_the_official_defaults() -> None:
    relax = instantiate(OmegaConf.load(str(CONFIG)))
    assert isinstance(relax, Dirichlet)
    assert relax.describe() == {"name": "dirichlet", "reg_type": "l2", "reg_scale": 1e-3, "partial_channels": 1}
