"""DrNAS's progressive learning: pruning masks (float64), Net2Wider on both supernets, momentum carried across a
widening, refusals naming their key, and a two-stage search resuming exactly from a checkpoint in stage 2."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from nasflat.algorithms.differentiable.progressive import Progressive, PrunedRelaxation
from nasflat.algorithms.differentiable.relaxations.dirichlet import Dirichlet
from nasflat.checkpoint import CheckpointStore
from nasflat.phases import run_phase
from nasflat.spaces.darts.supernet import DartsSupernet
from nasflat.spaces.nb201 import NB201Space
from nasflat.spaces.ops import DilConv, FactorizedReduce
from nasflat.train import SGDConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_darts_algorithms import build, tracker

SHAPES = {"normal": (14, 7), "reduce": (14, 7)}


class _Space:
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return dict(SHAPES)


def _alphas(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {c: torch.randn(s, generator=g, dtype=torch.float64) for c, s in SHAPES.items()}


def _topk_mask(a: torch.Tensor, k: int) -> torch.Tensor:
    """Reference: per row, True at the k largest entries (sorting, not topk)."""
    order = a.argsort(dim=-1, descending=True)[:, :k]
    mask = torch.zeros_like(a, dtype=torch.bool)
    for e, row in enumerate(order.tolist()):
        mask[e, row] = True
    return mask


# ---- pruning ------------------------------------------------------------------------------------------------------
def test_pruning_keeps_the_top_ops_by_alpha_and_masked_ops_weigh_zero() -> None:
    prog = Progressive([1, 1, 1], [1, 1, 1], [7, 4, 2])
    alphas, before = _alphas(), _alphas()
    prog.prune(alphas, 4)
    for c in SHAPES:
        expected = _topk_mask(before[c], 4)
        assert torch.equal(prog.masks[c], expected)
        assert torch.equal(alphas[c], torch.where(expected, before[c], 0.0))  # kept α unchanged, the rest 0
    # the next stage chooses among the kept ops only, even where a masked op's α has grown since
    alphas["normal"][0][~prog.masks["normal"][0]] = 50.0
    kept, now = prog.masks["normal"].clone(), alphas["normal"].clone()
    prog.prune(alphas, 2)
    assert torch.equal(prog.masks["normal"], _topk_mask(now.masked_fill(~kept, -1e9), 2))
    assert not (prog.masks["normal"] & ~kept).any()

    relax = PrunedRelaxation(Dirichlet().bind(_Space()), prog)
    base = relax.base
    mix = relax.mixture(alphas, generator=torch.Generator().manual_seed(3))
    ref = base.mixture(alphas, generator=torch.Generator().manual_seed(3))
    for c in SHAPES:
        mask, w, w0 = prog.masks[c], mix.weights[c], ref.weights[c]
        assert (w[~mask] == 0).all()  # exactly zero, not small
        torch.testing.assert_close(w, w0 * mask / (w0 * mask).sum(-1, keepdim=True), rtol=1e-15, atol=0)
        torch.testing.assert_close(w.sum(-1), torch.ones(14, dtype=torch.float64), rtol=1e-15, atol=1e-15)
        p = relax.probs(alphas)[c]  # derivation and logging: the softmax over the kept ops (DrNAS's genotype)
        expected = alphas[c].masked_fill(~mask, float("-inf")).softmax(-1)
        torch.testing.assert_close(p, expected, rtol=1e-14, atol=1e-16)
        torch.testing.assert_close(relax.derive_weights(alphas)[c], expected, rtol=1e-14, atol=1e-16)


# ---- widening -----------------------------------------------------------------------------------------------------
def _nb201(k: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return NB201Space().supernet(5, C=4, N=1, partial_channels=k).double()


def _darts(k: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return DartsSupernet(10, C=8, layers=3, op_set="darts7", partial_channels=k).double()


@pytest.mark.parametrize("make", [_nb201, _darts], ids=["nb201", "darts"])
def test_widening_keeps_the_learned_channels_and_copies_random_ones(make) -> None:
    """Net2Wider as DrNAS: old channels kept, new ones copies of random old ones, consistent along each block
    (depthwise filter -> pointwise input column; conv output -> its BN). Not function-preserving (DrNAS does not
    rescale; the new channels see formerly bypassed inputs), so the test checks the copies themselves."""
    model = make(4)
    with torch.no_grad():  # non-trivial running statistics, so their copies are checked too
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_()
    old_params, old_buffers = dict(model.named_parameters()), {n: b.clone() for n, b in model.named_buffers()}
    recipes = model.widen(2, torch.Generator().manual_seed(5))
    params = dict(model.named_parameters())
    for name, p in params.items():
        if p not in recipes:
            assert p is old_params[name]  # stem, preprocessing, classifier: the very same parameters
            continue
        recipe = recipes[p]
        for dim, index in recipe:
            n_old = old_params[name].shape[dim]
            assert torch.equal(index[:n_old], torch.arange(n_old)) and (index[n_old:] < n_old).all()
            assert len(index) == 2 * n_old  # C/4 -> C/2
        ref = old_params[name].detach()
        for dim, index in recipe:
            ref = ref.index_select(dim, index)
        assert torch.equal(p, ref)
    for module in model.modules():
        if isinstance(module, DilConv) and module[1].weight in recipes:
            (_, i_dw), (_, i_pw_in) = recipes[module[1].weight][0], recipes[module[2].weight][1]
            assert torch.equal(i_dw, i_pw_in) and module[1].groups == module[1].out_channels
        if isinstance(module, FactorizedReduce) and module.conv_1.weight in recipes:  # a widened stride-2 skip
            name = next(n for n, m in model.named_modules() if m is module)
            half = old_params[f"{name}.conv_1.weight"].shape[0]
            first, second = recipes[module.conv_1.weight][0][1], recipes[module.conv_2.weight][0][1]
            expected = torch.cat([first, half + second])
            torch.testing.assert_close(
                module.bn.running_mean, old_buffers[f"{name}.bn.running_mean"][expected], rtol=0, atol=0
            )
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    shapes = model.weight_shapes() if hasattr(model, "weight_shapes") else {"cell": (6, 5)}
    out = model(x, {c: torch.full(s, 1.0 / s[1], dtype=torch.float64) for c, s in shapes.items()})
    assert out.shape[0] == 2 and torch.isfinite(out).all()


@pytest.mark.parametrize("make", [_nb201, _darts], ids=["nb201", "darts"])
def test_widening_refuses_ratios_that_do_not_divide_or_narrow(make) -> None:
    model = make(2)
    with pytest.raises(ValueError, match="partial_channels=3 must be an integer >= 1 dividing"):
        model.widen(3, torch.Generator())
    with pytest.raises(ValueError, match="partial_channels=4 would narrow"):
        model.widen(4, torch.Generator())


def test_the_new_sgd_carries_momentum_grown_like_its_parameters() -> None:
    """DrNAS's configure_optimizer: unchanged parameters keep their buffers, widened ones get grown copies."""
    model = _nb201(4)
    optim = SGDConfig(lr=0.1, momentum=0.9, weight_decay=3e-4)
    w_opt = optim.make(model.parameters())
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    model(x, {"cell": torch.full((6, 5), 0.2, dtype=torch.float64)}).pow(2).sum().backward()
    w_opt.step()
    old = {n: w_opt.state[p]["momentum_buffer"].clone() for n, p in model.named_parameters()}
    search = SimpleNamespace(model=model, w_opt=w_opt, optim=optim, ctx=SimpleNamespace(stream=lambda *k: 7))
    prog = Progressive([1, 1], [4, 2], [5, 3])
    prog.stage = 1
    g = torch.Generator().manual_seed(7)
    reference = copy.deepcopy(model)
    recipes = reference.widen(2, g)  # the same draws the Progressive makes from its (stubbed) stream
    prog._widen(search, carry=True)
    assert search.w_opt is not w_opt
    ref_params = dict(reference.named_parameters())
    for n, p in model.named_parameters():
        recipe = recipes.get(ref_params[n], ())
        buf = old[n]
        for dim, index in recipe:
            buf = buf.index_select(dim, index)
        assert torch.equal(search.w_opt.state[p]["momentum_buffer"], buf)
        assert torch.equal(p, ref_params[n])


# ---- options ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"epochs": [1, 1], "ks": [4], "num_keeps": [5, 3]}, "algo.progressive.ks"),
        ({"epochs": [1, 1], "ks": [4, 2], "num_keeps": [5, 3, 2]}, "algo.progressive.num_keeps"),
        ({"epochs": [1, 1], "ks": [2, 4], "num_keeps": [5, 3]}, "algo.progressive.ks"),
        ({"epochs": [0, 1], "ks": [4, 2], "num_keeps": [5, 3]}, "algo.progressive.epochs"),
    ],
)
def test_bad_stage_lists_are_refused_naming_the_key(kwargs, key) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        Progressive(**kwargs)


PROGRESSIVE = ("algo/progressive=drnas", "algo.track_hessian=false", "dataset.max_train=64")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (("algo.progressive.num_keeps=[6,3]",), "algo.progressive.num_keeps"),
        (("algo.progressive.ks=[4,3]",), "algo.progressive.ks"),
        (("algo.progressive.epochs=[1,1]",), "algo.progressive.epochs"),
    ],
)
def test_options_that_do_not_fit_the_run_are_refused_naming_the_key(overrides, key) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        build("drnas", "nb201", *PROGRESSIVE, "algo.epochs=3", "algo.progressive.epochs=[1,2]", *overrides)


# ---- the harness --------------------------------------------------------------------------------------------------
def _stages(*extra: str):
    return build(
        "drnas",
        "nb201",
        *PROGRESSIVE,
        "algo.epochs=3",
        "algo.progressive.epochs=[1,2]",
        "algo.arch_warmup_epochs=1",
        *extra,
    )


def test_two_stage_search_prunes_widens_restarts_warmup_and_resumes_exactly(tmp_path) -> None:
    ref = _stages()
    k0 = ref.model.partial_channels
    alphas0 = {n: a.detach().clone() for n, a in ref.alphas.items()}
    run_phase(ref, CheckpointStore(tmp_path / "ref", "fp"), tracker(tmp_path / "ref"))
    assert (k0, ref.model.partial_channels) == (4, 2) and ref.progressive.stage == 1
    mask = ref.progressive.masks["cell"]
    assert mask.sum(-1).tolist() == [3] * 6
    w = ref.mixture(torch.Generator().manual_seed(0)).weights["cell"]
    assert (w[~mask] == 0).all()
    assert ref.summary()["relaxation"]["progressive"]["ks"] == [4, 2]

    # warm-up: no α step in epoch 0 nor in the first epoch of stage 2, so α then is the pruned initial α
    first = _stages()
    first.total_steps = 2
    run_phase(first, CheckpointStore(tmp_path / "two", "fp"), tracker(tmp_path / "two"))
    a = first.alphas["cell"].detach()
    assert torch.equal(a, torch.where(first.progressive.masks["cell"], alphas0["cell"], 0.0))
    assert not torch.equal(ref.alphas["cell"].detach(), a)  # stage 2's second epoch moved α

    # killed in epoch 3 (checkpoint after epoch 2: stage 2, widened), resumed by a fresh object
    store = CheckpointStore(tmp_path / "cut", "fp")
    cut = _stages()
    cut.total_steps = 2
    run_phase(cut, store, tracker(tmp_path / "cut"))
    assert store.load("search")["step"] == 2
    resumed, steps = _stages(), []
    run_step = resumed.run_step
    resumed.run_step = lambda step: steps.append(step) or run_step(step)
    run_phase(resumed, store, tracker(tmp_path / "cut"))
    assert steps == [2]  # only the last epoch ran after the load
    assert resumed.model.partial_channels == 2 and torch.equal(resumed.progressive.masks["cell"], mask)
    for n, t in ref.alphas.items():
        assert torch.equal(t, resumed.alphas[n])
    for (n, t), (_, u) in zip(ref.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(t, u), n
    assert [h["arch"] for h in ref.history] == [h["arch"] for h in resumed.history]
