"""The harness's parts: the mixed-level objective against autograd by hand (float64), α-gradients through any
relaxation (NA-DARTS's transform and permutation), common random numbers, refusals, modifiers' schedules, and a
stochastic relaxation's search resuming exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nasflat.algorithms.differentiable.arch_grads import (
    A2M,
    FirstOrder,
    NeighborhoodExpected,
    NeighborhoodSampled,
    Unrolled,
    expected_neighbor,
)
from nasflat.algorithms.differentiable.harness import Parts
from nasflat.algorithms.differentiable.modifiers import BetaDarts, DartsMinus, SdartsRS
from nasflat.algorithms.differentiable.objectives import Bilevel, MixedLevel
from nasflat.algorithms.differentiable.problem import AlphaProblem
from nasflat.algorithms.differentiable.relaxations.gumbel import Gumbel
from nasflat.algorithms.differentiable.relaxations.partial_channel import PartialChannel, edge_softmax
from nasflat.algorithms.differentiable.relaxations.softmax import Softmax
from nasflat.algorithms.differentiable.selection import A2MEarlyStop, DartsES
from nasflat.checkpoint import CheckpointStore
from nasflat.phases import run_phase
from nasflat.spaces.mixture import Mixture
from nasflat.spaces.nb201 import NB201Space

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_darts_algorithms import build, tracker


def rel_err(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    fa, fb = torch.cat([t.reshape(-1) for t in a]), torch.cat([t.reshape(-1) for t in b])
    return float((fa - fb).norm() / fb.norm())


@pytest.fixture(scope="module")
def tiny():
    """A float64 NB201 supernet (C=4, N=1), a train and a val batch of 8x8 images."""
    torch.manual_seed(0)
    model = NB201Space().supernet(5, C=4, N=1).double()
    g = torch.Generator().manual_seed(1)
    train = (torch.randn(6, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 5, (6,), generator=g))
    val = (torch.randn(6, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 5, (6,), generator=g))
    return model, train, val


def problem(model, relaxation, train, val, **kwargs) -> AlphaProblem:
    relaxation.bind(NB201Space())
    return AlphaProblem(model, relaxation, tuple(relaxation.arch_shapes()), val, train, **kwargs)


def alphas_of(relaxation, seed: int = 2) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=torch.float64) for s in relaxation.arch_shapes().values()]


# ---- objectives ---------------------------------------------------------------------------------------------------
def test_mixed_level_gradient_is_the_hand_written_milenas_gradient(tiny):
    model, train, val = tiny
    p = problem(model, Softmax(), train, val, objective=MixedLevel(lam=0.7))
    (alpha,) = alphas_of(p.relaxation)
    a = alpha.clone().requires_grad_()
    w = {"cell": a.softmax(-1)}
    by_hand = F.cross_entropy(model(train[0], w), train[1]) + 0.7 * F.cross_entropy(model(val[0], w), val[1])
    (exact,) = torch.autograd.grad(by_hand, a)
    assert rel_err(FirstOrder()(p, [alpha]), [exact]) < 1e-12
    bilevel = FirstOrder()(problem(model, Softmax(), train, val), [alpha])
    assert rel_err(bilevel, [exact]) > 1e-2  # the train term really enters
    assert MixedLevel(0.7).needs_train_batch and not Bilevel().needs_train_batch


def test_mixed_level_under_a2m_differentiates_the_same_objective(tiny):
    """A²M on MiLeNAS's objective: g is the mixed-level gradient (its first pass)."""
    model, train, val = tiny
    p = problem(model, Softmax(), train, val, objective=MixedLevel(lam=2.0))
    (alpha,) = alphas_of(p.relaxation)
    terms = A2M(rho=1e-2).terms(p, [alpha])
    assert rel_err(terms.g, FirstOrder()(p, [alpha])) < 1e-14


# ---- α-gradients through any relaxation -----------------------------------------------------------------------------
def test_na_expected_transforms_the_op_distribution_before_the_relaxation(tiny):
    """With PC-DARTS's relaxation the marginal replaces softmax(α), the edge weights stay PC-DARTS's own."""
    model, train, val = tiny
    relax = PartialChannel(partial_channels=1, edge_normalization=True)
    p = problem(model, relax, train, val)
    alphas = alphas_of(relax)
    ours = NeighborhoodExpected(radius=1)(p, alphas)
    a, b = (t.clone().requires_grad_() for t in alphas)
    mixture = Mixture(
        weights={"cell": expected_neighbor(a.softmax(-1), 1 / 6)},
        edge_weights={"cell": edge_softmax(b, NB201Space().incoming_edges()["cell"])},
    )
    exact = torch.autograd.grad(F.cross_entropy(model(val[0], mixture), val[1]), [a, b])
    assert rel_err(ours, list(exact)) < 1e-12


def test_na_sampled_permutes_op_logits_only(tiny):
    model, train, val = tiny
    relax = PartialChannel(partial_channels=1, edge_normalization=True)
    seen: list[dict[str, torch.Tensor]] = []
    mixture = relax.mixture
    relax.mixture = lambda alphas, **kw: (
        seen.append({n: t.detach() for n, t in alphas.items()}) or mixture(alphas, **kw)
    )
    p = problem(model, relax, train, val, generator=torch.Generator().manual_seed(0))
    alphas = alphas_of(relax)
    NeighborhoodSampled(samples=3)(p, alphas)
    assert len(seen) == 3
    for s in seen:
        assert torch.equal(s["cell_edges"], alphas[1])  # PC-DARTS's β untouched
        assert torch.equal(s["cell"].sort(-1).values, alphas[0].sort(-1).values)  # each row a permutation
        assert int((s["cell"] != alphas[0]).any(-1).sum()) == 1  # one edge moved (radius 1)


def test_a_stochastic_relaxation_reuses_one_draw_within_an_alpha_step(tiny):
    model, train, val = tiny
    p = problem(model, Gumbel(), train, val, draw_seed=123)
    alphas = alphas_of(p.relaxation)
    first, again = p.mixture(alphas), p.mixture([a + 1e-3 for a in alphas])
    assert torch.equal(first.index["cell"], again.index["cell"])  # common random numbers across A²M's passes
    assert torch.equal(p.loss(alphas), p.loss(alphas))
    other = problem(model, Gumbel(), train, val, draw_seed=124)
    draws = {tuple(other.mixture(alphas).index["cell"].tolist()), tuple(first.index["cell"].tolist())}
    assert len(draws) == 2


# ---- refusals -----------------------------------------------------------------------------------------------------
class HardSampler(Softmax):
    name, stochastic, single_path = "hard", True, True


def test_parts_name_every_combination_that_cannot_work():
    parts = Parts(
        relaxation=HardSampler(),
        arch_grad=Unrolled(),
        modifiers={"sdarts_rs": SdartsRS()},
        selection=DartsES(),
    )
    found = dict(parts.problems(eval_images=None, track_hessian=False))
    assert list(found) == ["arch_grad", "selection", "modifiers.sdarts_rs"]
    assert "stochastic relaxation (hard)" in found["arch_grad"]
    assert "set track_hessian=true" in found["selection"]
    assert "one sampled op per edge" in found["modifiers.sdarts_rs"]
    assert Parts(objective=MixedLevel(), arch_grad=Unrolled()).problems(eval_images=None, track_hessian=True) == [
        ("arch_grad", _reason(Unrolled(), MixedLevel()))
    ]
    assert Parts(selection=A2MEarlyStop()).problems(eval_images=0, track_hessian=True)[0][0] == "selection"
    assert Parts(modifiers={"darts_minus": DartsMinus()}).supernet_options() == {"aux_skip": True}


def _reason(strategy, objective) -> str:
    with pytest.raises(ValueError) as e:
        strategy.check(Softmax(), objective)
    return str(e.value)


# ---- modifiers' schedules -------------------------------------------------------------------------------------------
def test_each_modifier_owns_its_schedule():
    beta, sdarts, minus = BetaDarts(tau=0.5), SdartsRS(epsilon_max=0.3), DartsMinus(epochs=10)
    by_batch = BetaDarts(tau=0.5, schedule="batch_index")
    for m in (beta, sdarts, minus, by_batch):
        m.set_epoch(4, 20)
    assert beta.schedules() == {"beta_darts_lambda": 2.0} and beta.lam(7) == 2.0
    assert by_batch.lam(7) == 3.5 and by_batch.schedules() == {"beta_darts_lambda": 0.0}
    assert sdarts.schedules() == {"sdarts_epsilon": pytest.approx(0.03 + 0.27 * 4 / 20)}
    assert minus.schedules() == {"aux_skip_beta": pytest.approx(1 - 3 / 10)}  # T = 10, not the run's 20
    assert BetaDarts().alpha_penalty({"cell": torch.zeros(6, 5)}, 0) is None  # λ_0 = 0: no term at all
    with pytest.raises(ValueError, match="schedule"):
        BetaDarts(schedule="iteration")


# ---- the harness with a stochastic relaxation ------------------------------------------------------------------
def test_gumbel_search_samples_every_weight_step_and_resumes_exactly(tmp_path):
    gumbel = ("algo/relaxation=gumbel", "algo.track_hessian=false", "dataset.max_train=64")
    ref = build("darts", "nb201", *gumbel)
    weight_steps: list[tuple[int, ...]] = []

    def record(module, args):
        if module.training and not args[1].weights["cell"].requires_grad:  # a weight step's mixture
            weight_steps.append(tuple(args[1].index["cell"].tolist()))

    ref.model.register_forward_pre_hook(record)
    noise = ref.noise.get_state()
    ref.evaluate()
    assert torch.equal(ref.noise.get_state(), noise)  # measuring never moves the search's noise stream
    run_phase(ref, CheckpointStore(tmp_path / "ref", "fp"), tracker(tmp_path / "ref"))
    assert len(weight_steps) == 2 and len(set(weight_steps)) == 2  # one hard path per weight step, redrawn
    assert ref.summary()["relaxation"]["name"] == "gumbel" and ref.history[-1]["tau"] == pytest.approx(0.1)

    cut = build("darts", "nb201", *gumbel)
    cut.total_steps = 1
    store = CheckpointStore(tmp_path / "cut", "fp")
    run_phase(cut, store, tracker(tmp_path / "cut"))
    resumed = build("darts", "nb201", *gumbel)
    run_phase(resumed, store, tracker(tmp_path / "cut"))
    for n, a in ref.alphas.items():
        assert torch.equal(a, resumed.alphas[n])
    assert [h["arch"] for h in ref.history] == [h["arch"] for h in resumed.history]
