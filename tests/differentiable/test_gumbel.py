"""GDAS's relaxation: the hard Gumbel-softmax sample, its straight-through gradient and τ's schedule (float64)."""

from __future__ import annotations

from importlib import resources

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nasflat.algorithms.differentiable.relaxations import gumbel as gumbel_module
from nasflat.algorithms.differentiable.relaxations.gumbel import Gumbel, hard_gumbel
from nasflat.spaces.mixture import Mixture

CONFIG = resources.files("nasflat.conf") / "algo" / "relaxation" / "gumbel.yaml"


class _Space:
    def __init__(self, shapes: dict[str, tuple[int, int]]) -> None:
        self.shapes = shapes

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return dict(self.shapes)


NB201 = _Space({"cell": (6, 5)})
DARTS = _Space({"normal": (14, 8), "reduce": (14, 8)})


def _alphas(shapes: dict[str, tuple[int, int]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(s, generator=g, dtype=torch.float64) for n, s in shapes.items()}


def _official_sample(alpha: torch.Tensor, tau: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """AutoDL's TinyNetworkGDAS.forward sampling step, restated with plain torch ops (one draw)."""
    gumbels = -torch.empty_like(alpha).exponential_(generator=gen).log()
    logits = (alpha.log_softmax(dim=1) + gumbels) / tau
    probs = logits.softmax(dim=1)
    index = probs.max(-1, keepdim=True)[1]
    one_h = torch.zeros_like(logits).scatter_(-1, index, 1.0)
    return one_h - probs.detach() + probs, index.squeeze(-1)


def _official_cell(hardwts: torch.Tensor, index: torch.Tensor, ops: list[torch.Tensor], x: torch.Tensor) -> list:
    """AutoDL's forward_gdas edge arithmetic: Σ_i (hardwts[i] * op_i(x) if i == argmax else hardwts[i])."""
    outs = []
    for e in range(hardwts.shape[0]):
        i_max = index[e].item()
        outs.append(sum(hardwts[e, i] * (ops[i] @ x) if i == i_max else hardwts[e, i] for i in range(len(ops))))
    return outs


def test_mixture_equals_official_sample_for_the_same_draw() -> None:
    relax = Gumbel().bind(DARTS)
    relax.set_epoch(3, 10)
    a = _alphas(DARTS.shapes)
    m = relax.mixture(a, generator=torch.Generator().manual_seed(11))
    ref_gen = torch.Generator().manual_seed(11)
    for c in ("normal", "reduce"):  # cells are drawn in the space's order
        hard, index = _official_sample(a[c], relax.tau, ref_gen)
        torch.testing.assert_close(m.weights[c], hard, rtol=0, atol=0)
        assert torch.equal(m.index[c], index) and m.index[c].dtype == torch.long
        torch.testing.assert_close(m.weights[c], torch.nn.functional.one_hot(index, 8).double(), rtol=0, atol=1e-15)
    assert m.edge_weights is None
    again = relax.mixture(a, generator=torch.Generator().manual_seed(11))
    other = relax.mixture(a, generator=torch.Generator().manual_seed(12))
    assert torch.equal(again.index["normal"], m.index["normal"])
    assert not torch.equal(other.weights["normal"], m.weights["normal"])


def test_hard_gumbel_index_is_the_gumbel_max() -> None:
    g = torch.Generator().manual_seed(2)
    log_p = torch.randn(6, 5, generator=g, dtype=torch.float64).log_softmax(-1)
    gumbels = -torch.empty(6, 5, dtype=torch.float64).exponential_(generator=g).log()
    for tau in (10.0, 1.0, 0.1):
        hard, index = hard_gumbel(log_p, gumbels, tau)
        assert torch.equal(index, (log_p + gumbels).argmax(-1))
        torch.testing.assert_close(hard.sum(-1), torch.ones(6, dtype=torch.float64), rtol=0, atol=1e-15)


@pytest.mark.parametrize("tau", [10.0, 0.7])
def test_straight_through_gradient_equals_official_on_a_fixed_sample(tau: float) -> None:
    """∂L/∂α through our Mixture = through AutoDL's literal cell arithmetic = the closed-form ST gradient."""
    relax = Gumbel().bind(NB201)
    relax.tau = tau
    g = torch.Generator().manual_seed(4)
    ops = [torch.randn(3, 3, generator=g, dtype=torch.float64) for _ in range(5)]
    x = torch.randn(3, generator=g, dtype=torch.float64)
    target = torch.randn(6, 3, generator=g, dtype=torch.float64)

    def loss_of(outs: list) -> torch.Tensor:
        return sum(((o - target[e]) ** 2).sum() for e, o in enumerate(outs))

    alpha = _alphas(NB201.shapes, seed=5)["cell"].requires_grad_()
    m = relax.mixture({"cell": alpha}, generator=torch.Generator().manual_seed(21))
    ours = torch.autograd.grad(loss_of(_official_cell(m.weights["cell"], m.index["cell"], ops, x)), alpha)[0]

    alpha_ref = alpha.detach().clone().requires_grad_()
    hard, index = _official_sample(alpha_ref, tau, torch.Generator().manual_seed(21))
    official = torch.autograd.grad(loss_of(_official_cell(hard, index, ops, x)), alpha_ref)[0]
    torch.testing.assert_close(ours, official, rtol=0, atol=1e-14)

    # closed form: u = ∂L/∂w, soft h: v = h ⊙ (u - <h, u>), ∂L/∂α = (v - p Σv) / τ
    leaf = hard.detach().clone().requires_grad_()
    u = torch.autograd.grad(loss_of(_official_cell(leaf, index, ops, x)), leaf)[0]
    p = alpha.detach().softmax(-1)
    gumbels = -torch.empty(6, 5, dtype=torch.float64).exponential_(generator=torch.Generator().manual_seed(21)).log()
    h = ((p.log() + gumbels) / tau).softmax(-1)
    v = h * (u - (h * u).sum(-1, keepdim=True))
    torch.testing.assert_close(ours, (v - p * v.sum(-1, keepdim=True)) / tau, rtol=1e-10, atol=1e-14)


def test_others_gradient_false_equals_autodl_nasnet_cell_gradient() -> None:
    """AutoDL's NASNet-space MixedOp.forward_gdas is ``op_i(x) * w_i`` alone: the unsampled weights get no gradient."""
    relax = Gumbel(others_gradient=False).bind(NB201)
    g = torch.Generator().manual_seed(7)
    ops = [torch.randn(3, 3, generator=g, dtype=torch.float64) for _ in range(5)]
    x = torch.randn(3, generator=g, dtype=torch.float64)
    target = torch.randn(6, 3, generator=g, dtype=torch.float64)

    def loss_of(outs: list) -> torch.Tensor:
        return sum(((o - target[e]) ** 2).sum() for e, o in enumerate(outs))

    alpha = _alphas(NB201.shapes, seed=8)["cell"].requires_grad_()
    m = relax.mixture({"cell": alpha}, generator=torch.Generator().manual_seed(3))
    ours = torch.autograd.grad(loss_of(_official_cell(m.weights["cell"], m.index["cell"], ops, x)), alpha)[0]
    alpha_ref = alpha.detach().clone().requires_grad_()
    hard, index = _official_sample(alpha_ref, relax.tau, torch.Generator().manual_seed(3))
    nasnet = [hard[e, index[e]] * (ops[int(index[e])] @ x) for e in range(6)]
    official = torch.autograd.grad(loss_of(nasnet), alpha_ref, retain_graph=True)[0]
    torch.testing.assert_close(ours, official, rtol=0, atol=1e-14)
    assert not torch.allclose(ours, torch.autograd.grad(loss_of(_official_cell(hard, index, ops, x)), alpha_ref)[0])


def test_tau_follows_autodl_linear_schedule() -> None:
    relax = Gumbel()
    assert relax.schedules() == {"tau": 10.0}
    for epoch, expected in [(0, 10.0), (1, 10.0 - 9.9 / 249), (124, 10.0 - 9.9 * 124 / 249), (249, 0.1)]:
        relax.set_epoch(epoch, 250)
        assert relax.schedules()["tau"] == pytest.approx(expected, rel=1e-12)
    relax.set_epoch(0, 1)
    assert relax.tau == 10.0
    custom = Gumbel(tau_max=5.0, tau_min=1.0)
    custom.set_epoch(2, 5)
    assert custom.tau == pytest.approx(3.0)


@pytest.mark.parametrize(("tau_max", "tau_min"), [(10.0, 0.0), (1.0, 2.0), (-1.0, -2.0)])
def test_bad_temperatures_are_refused(tau_max: float, tau_min: float) -> None:
    with pytest.raises(ValueError, match="tau_min"):
        Gumbel(tau_max=tau_max, tau_min=tau_min)


def test_non_finite_draws_are_redrawn_like_gdas(monkeypatch: pytest.MonkeyPatch) -> None:
    relax = Gumbel().bind(NB201)
    real = gumbel_module.gumbel_noise
    calls = []

    def flaky(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        calls.append(1)
        noise = real(like, generator)
        if len(calls) == 1:
            noise[0, 0] = float("inf")
        return noise

    monkeypatch.setattr(gumbel_module, "gumbel_noise", flaky)
    a = _alphas(NB201.shapes)
    m = relax.mixture(a, generator=torch.Generator().manual_seed(1))
    assert len(calls) == 2 and torch.isfinite(m.weights["cell"]).all()
    ref_gen = torch.Generator().manual_seed(1)
    real(a["cell"], ref_gen)  # the rejected draw
    torch.testing.assert_close(m.weights["cell"], _official_sample(a["cell"], relax.tau, ref_gen)[0])


def test_non_finite_alphas_fail_with_a_reason() -> None:
    relax = Gumbel().bind(NB201)
    with pytest.raises(RuntimeError, match="not finite"):
        relax.mixture({"cell": torch.full((6, 5), float("nan"))}, generator=torch.Generator().manual_seed(0))


def test_transform_replaces_log_softmax_as_the_base() -> None:
    relax = Gumbel().bind(NB201)
    a = _alphas(NB201.shapes, seed=8)
    plain = relax.mixture(a, generator=torch.Generator().manual_seed(3))
    same = relax.mixture(a, transform=lambda p: p, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(same.weights["cell"], plain.weights["cell"], rtol=0, atol=1e-14)

    def sharpen(p: torch.Tensor) -> torch.Tensor:
        return p.pow(3) / p.pow(3).sum(-1, keepdim=True)

    sharp = relax.mixture(a, transform=sharpen, generator=torch.Generator().manual_seed(3))
    gumbels = gumbel_module.gumbel_noise(a["cell"], torch.Generator().manual_seed(3))
    hard, index = hard_gumbel(sharpen(a["cell"].softmax(-1)).log(), gumbels, relax.tau)
    torch.testing.assert_close(sharp.weights["cell"], hard, rtol=0, atol=0)
    assert torch.equal(sharp.index["cell"], index)
    assert relax.probs(a)["cell"].allclose(a["cell"].softmax(-1))
    assert Gumbel.stochastic


def _tiny_supernet(space_name: str) -> tuple[torch.nn.Module, Gumbel]:
    if space_name == "nb201":
        from nasflat.spaces.nb201 import NB201Space

        space = NB201Space()
        net = space.supernet(10, C=4, N=1)
    else:
        from nasflat.spaces.darts import DartsSpace

        space = DartsSpace()
        net = space.supernet(10, C=4, layers=3)
    return net.double().eval(), Gumbel().bind(space)


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_supernet_runs_the_sampled_path_with_gdas_gradients(space_name: str) -> None:
    """Forward = the one-hot mixture; each non-sampled weight gets the same gradient (the edge output's sum)."""
    torch.manual_seed(0)
    net, relax = _tiny_supernet(space_name)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    a = _alphas(dict(relax.space.weight_shapes()), seed=6)
    m = relax.mixture(a, generator=torch.Generator().manual_seed(2))
    leaves = {c: w.detach().clone().requires_grad_() for c, w in m.weights.items()}
    out = net(x, Mixture(weights=leaves, index=m.index))
    with torch.no_grad():
        k = next(iter(m.weights.values())).shape[1]
        one_hot = {c: torch.nn.functional.one_hot(i, k).double() for c, i in m.index.items()}
        torch.testing.assert_close(out, net(x, Mixture(weights=one_hot)), rtol=1e-10, atol=1e-12)
    grads = torch.autograd.grad(out.pow(2).sum(), list(leaves.values()))
    for c, grad in zip(leaves, grads, strict=True):
        for e, i in enumerate(m.index[c].tolist()):
            others = torch.cat([grad[e, :i], grad[e, i + 1 :]])
            torch.testing.assert_close(others, others[:1].expand_as(others), rtol=1e-12, atol=1e-14)
        assert torch.isfinite(grad).all() and grad.abs().max() > 0


def test_config_builds_the_official_defaults() -> None:
    relax = instantiate(OmegaConf.load(str(CONFIG)))
    assert isinstance(relax, Gumbel)
    assert relax.describe() == {"name": "gumbel", "tau_max": 10.0, "tau_min": 0.1, "others_gradient": True}
