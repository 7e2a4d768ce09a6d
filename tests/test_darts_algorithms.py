"""DARTS / DARTS-2nd / A²M / NA-DARTS on the differentiable harness: end to end on both spaces, resume, step order,
costs, modifiers (base methods)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

import nasflat.cli  # noqa: F401  (registers the run-id resolver)
from nasflat.algorithms.differentiable.arch_grads import A2M, FirstOrder
from nasflat.algorithms.differentiable.harness import DifferentiableSearch, alpha_entropy
from nasflat.checkpoint import CheckpointStore
from nasflat.context import SearchContext, official_split
from nasflat.hardware import Hardware
from nasflat.phases import run_phase
from nasflat.rng import Purpose, stream_seed
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.mixture import Mixture
from nasflat.spaces.nb201 import NB201Space
from nasflat.tracking import Tracker

ALGOS = ("darts", "darts_2nd", "a2m", "na_darts")
SPACES = ("nb201", "darts")


def compose_search(*overrides: str):
    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        cfg = compose("search", overrides=list(overrides))
    OmegaConf.resolve(cfg)
    return cfg


def build(
    algo: str, space: str, *extra: str, eval_batch_size: int = 64, hardware: Hardware | None = None
) -> DifferentiableSearch:
    """The algorithm as the CLI would build it (with the method's default split), on tiny real data (digits; 2
    batches of 32 per epoch on NB201, 1 on the slower DARTS space); ``hardware`` defaults to float32 on CPU."""
    images = 128 if space == "nb201" else 64
    cfg = compose_search(
        f"algo={algo}",
        f"space={space}",
        "dataset=digits",
        "debug=tiny",
        f"dataset.max_train={images}",
        "algo.epochs=2",
        "algo.batch_size=32",
        f"algo.eval_batch_size={eval_batch_size}",
        # α-Hessian tracking on one batch of 8: the exact path on NB201; the DARTS space's power iteration (about
        # 5 s per epoch here) is tested in tests/analysis/test_alpha_curvature.py
        "algo.hessian.images=8",
        "algo.hessian.batch_size=8",
        f"algo.track_hessian={space == 'nb201'}",
        *extra,
    )
    factory = instantiate(cfg.algo)
    ctx = SearchContext(
        space=instantiate(cfg.space),
        seed=0,
        data_spec=instantiate(cfg.dataset).with_default_split(official_split(factory)),
        supernet_options=dict(cfg.search_net),
        hardware=hardware or Hardware(),
    )
    return factory(ctx, None)


def tracker(path) -> Tracker:
    return Tracker(run_dir=path, config={}, wandb=None)


def alphas_of(algo: DifferentiableSearch) -> dict[str, torch.Tensor]:
    return {n: a.detach().clone() for n, a in algo.alphas.items()}


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("algo_name", ALGOS)
def test_every_algorithm_runs_checkpoints_and_resumes_to_the_same_alpha(algo_name, space, tmp_path):
    # uninterrupted reference
    ref = build(algo_name, space)
    run_phase(ref, CheckpointStore(tmp_path / "ref", "fp"), tracker(tmp_path / "ref"))

    # the same run killed after epoch 1, then resumed by a fresh process-like object from the checkpoint
    store = CheckpointStore(tmp_path / "cut", "fp")
    first = build(algo_name, space)
    run_step = first.run_step

    def dies_in_epoch_2(step: int):
        if step == 1:
            raise KeyboardInterrupt
        return run_step(step)

    first.run_step = dies_in_epoch_2
    with pytest.raises(KeyboardInterrupt):
        run_phase(first, store, tracker(tmp_path / "cut"))
    saved = store.load("search")
    assert saved["step"] == 1
    for n, a in alphas_of(first).items():  # α lives in the checkpoint
        assert torch.equal(saved["phase"]["alphas"][n], a)
    resumed = build(algo_name, space)
    run_phase(resumed, store, tracker(tmp_path / "cut"))

    ref_alphas, res_alphas = alphas_of(ref), alphas_of(resumed)
    assert all(torch.equal(ref_alphas[n], res_alphas[n]) for n in ref_alphas)
    assert not all(torch.equal(ref_alphas[n], alphas_of(first)[n]) for n in ref_alphas)  # epoch 2 moved α
    for p, q in zip(ref.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(p, q)
    assert [h["arch"] for h in ref.history] == [h["arch"] for h in resumed.history]

    # per-epoch monitoring
    m = resumed.history[-1]
    k = len(resumed.space.ops)
    assert 0.0 <= m["alpha_entropy"] <= math.log(k) + 1e-9
    arch = resumed.space.parse(m["arch"])
    assert m["param_free_ops"] == resumed.space.param_free_ops(arch)
    for cell, (edges, ops) in resumed.space.weight_shapes().items():
        table = m[f"alpha_softmax_{cell}"]
        assert len(table) == edges and all(len(r) == ops and abs(sum(r) - 1) < 1e-3 for r in table)
    assert math.isfinite(m["valid_loss"]) and 0.0 <= m["valid_acc"] <= 1.0
    assert m["lr"] == pytest.approx(0.001 + 0.5 * (0.025 - 0.001) * (1 + math.cos(math.pi / 2)))
    best, _ = resumed.best()
    assert resumed.space.format(best) == m["arch"]
    s = resumed.summary()
    assert s["selection"] == "final_epoch" and s["epochs_run"] == 2 and s["final_arch"] == m["arch"]
    json.dumps(s)  # results.json-ready


def test_a2m_rho_is_declared_per_space_by_the_method():
    assert compose_search("algo=a2m").algo.arch_grad.rho == 1e-2
    assert compose_search("algo=a2m", "space=darts").algo.arch_grad.rho == 1e-1
    assert compose_search("algo=darts", "algo/arch_grad=a2m", "space=darts").algo.arch_grad.rho == 1e-1
    cfg = compose_search("experiment=a2m_darts")
    assert cfg.space.op_set == "darts7" and cfg.algo.arch_grad.rho == 1e-1 and cfg.space_name == "darts"
    assert cfg.algo.selection._target_.endswith("A2MEarlyStop") and cfg.algo.selection.patience == 10
    assert cfg.dataset.split_method == "first" and "space_defaults" not in cfg
    autodl = compose_search("experiment=nb201_darts_autodl")
    assert autodl.algo.order == "weights_first" and autodl.algo.optim.nesterov
    assert autodl.algo.optim.weight_decay == 5e-4
    baseline = compose_search("experiment=a2m_nb201", "algo=darts")  # the DARTS baseline of A²M's harness
    assert baseline.algo.arch_grad._target_.endswith("FirstOrder")
    assert baseline.algo.selection._target_.endswith("A2MEarlyStop")


# ---- one iteration on a fixed batch ---------------------------------------------------------------------------------
def tiny_search(arch_grad_override: str | None = None, *extra: str, space: str = "nb201") -> DifferentiableSearch:
    """The harness as the CLI builds it (tiny supernet, 10 classes), for iteration-level checks on fixed batches."""
    overrides = [f"algo/arch_grad={arch_grad_override}"] if arch_grad_override else []
    return build("darts", space, "algo.epochs=10", "algo.track_hessian=false", *overrides, *extra)


def batches(n: int = 8, size: int = 8):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(n, 3, size, size, generator=g), torch.randint(0, 5, (n,), generator=g)) for _ in range(2)]


def iterate(search: DifferentiableSearch, train, val, epoch: int = 0) -> None:
    """One iteration of epoch ``epoch``: the α batch is ``val`` instead of a draw from the α split."""
    search.set_epoch(epoch)
    search.iteration(train, val)


def mixtures_per_iteration(search: DifferentiableSearch, epoch: int = 0) -> list:
    """(kind, mixture) of every supernet call of one iteration: ``alpha`` when α receives gradients, else ``weight``."""
    log: list = []

    def hook(_module, args):
        weights = args[1].weights
        log.append(("alpha" if any(w.requires_grad for w in weights.values()) else "weight", args[1]))

    handle = search.model.register_forward_pre_hook(hook)
    train, val = batches(size=16 if search.space.name == "darts" else 8)
    iterate(search, train, val, epoch)
    handle.remove()
    return log


def calls_per_iteration(search: DifferentiableSearch) -> list[str]:
    return [kind for kind, _ in mixtures_per_iteration(search)]


@pytest.mark.parametrize(
    "override,extra,alpha_passes",
    [
        ("first_order", (), 1),
        ("second_order", (), 4),  # train grad, unrolled val, w + Rv, w - Rv
        ("a2m", (), 4),
        ("na", (), 1),
        ("na", ("algo.arch_grad.mode=sampled", "algo.arch_grad.samples=3"), 3),
        ("na", ("algo.arch_grad.mode=sampled", "algo.arch_grad.samples=3", "algo.arch_grad.include_centre=true"), 4),
    ],
)
def test_forward_passes_per_iteration(override, extra, alpha_passes):
    search = tiny_search(override, *extra)
    calls = calls_per_iteration(search)
    assert len(calls) == alpha_passes + 1 == search.parts.arch_grad.passes + 1
    assert calls[-1] == "weight"  # α step first (quark0, A²M)
    # A²M costs 5 passes per iteration, first-order DARTS 2: the 5/2 the issue expects


def test_weights_first_order_runs_the_weight_step_first():
    assert calls_per_iteration(tiny_search(None, "algo.order=weights_first")) == ["weight", "alpha"]
    a, b = tiny_search(), tiny_search(None, "algo.order=weights_first")
    train, val = batches()
    iterate(a, train, val)
    iterate(b, train, val)
    assert not torch.equal(a.alphas["cell"], b.alphas["cell"])


def test_arch_warmup_epochs_skip_the_alpha_step():
    search = tiny_search(None, "algo.arch_warmup_epochs=2")
    before = search.alphas["cell"].detach().clone()
    assert [k for k, _ in mixtures_per_iteration(search, epoch=1)] == ["weight"]
    assert torch.equal(search.alphas["cell"], before)
    assert [k for k, _ in mixtures_per_iteration(search, epoch=2)] == ["alpha", "weight"]


def test_alpha_step_is_adam_on_the_strategy_gradient():
    search = tiny_search("a2m", "algo.arch_grad.rho=0.05")
    _, val = batches()
    before = search.alphas["cell"].detach().clone()
    expected = A2M(rho=0.05)(search.alpha_problem(val), [before])[0]
    ref = torch.nn.Parameter(before.clone())
    opt = torch.optim.Adam([ref], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    ref.grad = expected
    opt.step()
    grads = search.alpha_step(val)
    assert torch.allclose(grads[0], expected, atol=1e-7)
    assert torch.allclose(search.alphas["cell"], ref, atol=1e-8)


@pytest.mark.parametrize("schedule,lam", [("epoch", 2.0), ("batch_index", 1.5)])
def test_beta_darts_adds_lambda_times_logsumexp_gradient(schedule, lam):
    _, val = batches()
    beta_darts = ["algo/modifiers=[beta_darts]", f"algo.modifiers.beta_darts.schedule={schedule}"]
    plain, beta = tiny_search(), tiny_search(None, *beta_darts)
    beta.set_epoch(4)  # epoch schedule: λ = 4 * 0.5; batch_index schedule: λ = 3 * 0.5 at batch 3
    alpha = [plain.alphas["cell"].detach()]
    g0 = FirstOrder()(plain.alpha_problem(val), alpha)[0]
    g1 = FirstOrder()(beta.alpha_problem(val, batch_index=3), alpha)[0]
    # d/dα mean_e logsumexp(α_e) = softmax(α) / E
    assert torch.allclose(g1 - g0, lam * alpha[0].softmax(-1) / 6, atol=1e-6)
    assert beta.schedules()["beta_darts_lambda"] == (2.0 if schedule == "epoch" else 0.0)


def test_sdarts_rs_perturbs_the_weight_step_only():
    search = tiny_search(None, "algo/modifiers=[sdarts_rs]")
    (_, alpha_m), (_, weight_m) = mixtures_per_iteration(search, epoch=5)
    alpha_w, weight_w = alpha_m.weights["cell"].detach(), weight_m.weights["cell"]
    probs = search.alphas["cell"].detach().softmax(-1)
    assert torch.allclose(alpha_w.sum(-1), torch.ones(6)) and torch.allclose(weight_w.sum(-1), torch.ones(6))
    assert (weight_w - alpha_w).abs().max() > 1e-3  # ε = 0.03 + 0.27 * 5/10
    assert not torch.allclose(weight_w, probs, atol=1e-3)
    assert search.schedules()["sdarts_epsilon"] == pytest.approx(0.03 + 0.27 * 5 / 10)


@pytest.mark.parametrize("space", SPACES)
def test_darts_minus_builds_the_aux_skip_and_decays_it(space):
    search = tiny_search(None, "algo/modifiers=[darts_minus]", space=space)
    assert search.model.aux_skip  # the modifier asked for the build option
    mixtures = [m.aux_skip for _, m in mixtures_per_iteration(search, epoch=3)]
    assert mixtures == [pytest.approx(1 - 2 / 10)] * 2  # α step and weight step


def test_nb201_aux_skip_adds_the_cell_input_on_every_edge():
    net = NB201Space().supernet(5, C=4, N=1, aux_skip=True)
    cell = net.cells[0]
    x = torch.randn(2, 4, 8, 8)
    none_only = torch.zeros(6, 5)
    none_only[:, 0] = 1.0
    plan = net._plan(Mixture(weights={"cell": none_only}, aux_skip=0.25), 0.0)
    # nodes: 1 <- β x; 2 <- 2 β x; 3 <- 3 β x (each edge carries β x, the cell input)
    assert torch.allclose(cell.mix(x, plan), 0.75 * x)
    with pytest.raises(ValueError, match="aux_skip=True"):
        NB201Space().supernet(5, C=4, N=1)(torch.randn(2, 3, 8, 8), {"cell": torch.ones(6, 5) / 5}, aux_skip=0.5)
    with pytest.raises(ValueError, match="mixture only"):
        net(torch.randn(2, 3, 8, 8), (1, 1, 1, 1, 1, 1), aux_skip=0.5)


def test_darts_aux_skip_uses_factorized_reduce_on_stride_two_edges():
    net = DartsSpace("darts7").supernet(5, C=4, layers=3, aux_skip=True)
    reduce_cell = next(c for c in net.cells if c.reduction)
    assert type(reduce_cell.edges[0].aux).__name__ == "FactorizedReduce"  # input edge of a reduction cell
    assert type(reduce_cell.edges[4].aux).__name__ == "Identity"  # node 2 -> node 3, stride 1
    w = {c: torch.zeros(14, 7) for c in ("normal", "reduce")}
    x = torch.randn(2, 3, 16, 16)
    assert not torch.allclose(net(x, w, aux_skip=0.5), net(x, w))
    with pytest.raises(ValueError, match="aux_skip=True"):
        DartsSpace("darts7").supernet(5, C=4, layers=3)(x, w, aux_skip=0.5)


# ---- selection, benchmark monitoring -----------------------------------------------------------------------------
def test_a2m_early_stop_keeps_the_start_of_epoch_genotype(tmp_path):
    algo = build("a2m", "nb201", "algo.epochs=6", "algo/selection=a2m_early_stop", "algo.selection.patience=1")
    losses = iter([3.0, 2.0, 2.5, 2.6, 2.7, 2.8])
    algo.evaluate = lambda: {"valid_loss": next(losses), "valid_acc": 0.5}
    run_phase(algo, CheckpointStore(tmp_path, "fp"), tracker(tmp_path))
    archs = [h["arch"] for h in algo.history]
    assert len(archs) == 4 and algo.stopped_at == 3  # epoch 3 - best epoch 1 > patience 1
    assert algo.run_step(5) == {"early_stopped_at": 3}  # later epochs do nothing
    arch, score = algo.best()
    assert algo.space.format(arch) == archs[0]  # best epoch 1 -> the genotype from the start of epoch 1
    s = algo.summary()
    assert s["selection"] == "a2m_early_stop" and s["a2m_best_epoch"] == 1 and s["a2m_early_stop_arch"] == archs[0]
    assert score == 0.5


def test_nb201_benchmark_accuracy_of_the_derived_arch_is_logged(nb201_csv):
    from nasflat.benchmarks.nb201 import NB201Table

    table = NB201Table.load(nb201_csv)
    algo = build("darts", "nb201", "algo.epochs=1")
    algo.ctx.table = table
    m = algo.run_step(0)
    for d in ("cifar10", "cifar100", "imagenet16_120"):
        assert m[f"bench_test_acc_{d}"] == table.query(m["arch"], d, "test")


def test_derive_exclude_none_and_entropy():
    algo = build("darts", "nb201", "algo.epochs=1", "algo.derive_exclude_none=true")
    with torch.no_grad():
        algo.alphas["cell"].zero_()
        algo.alphas["cell"][:, 0] = 5.0  # `none` dominates every edge
    assert all(op != 0 for op in algo.derive())
    assert alpha_entropy({"c": torch.full((3, 4), 0.25)}) == pytest.approx(math.log(4))
    with pytest.raises(TypeError):
        build("darts", "darts", "algo.derive_exclude_none=true")  # the DARTS rule never picks `none` anyway


# ---- held-out evaluation, random streams, split --------------------------------------------------------------------
def test_held_out_evaluation_counts_every_alpha_split_image_once():
    """Augmented (A²M / quark0) held-out loss = the mean over ALL α-split images: 64 images in batches of 48 used to
    lose the last 16 to drop_last."""
    algo = build("darts", "nb201", eval_batch_size=48)
    assert algo.eval_augment
    val = algo.ctx.data.splits["search_val"]
    state = algo.eval_loader.generator.get_state()
    m = algo.evaluate()
    # brute force: the same epoch draw (permutation + crops + flips) taken as one batch of the whole split
    whole = algo.ctx.loader("search_val", len(val), train=True, seed=0, shard=False, drop_last=False)
    whole.generator.set_state(state)
    ((x, y),) = list(whole)
    assert sorted(y.tolist()) == sorted(val.labels.tolist())  # every image exactly once
    model = algo.model.eval()
    with torch.no_grad():
        logits = model(x, algo.probs())
    assert m["valid_images"] == len(val) == 64
    assert m["valid_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert m["valid_acc"] == pytest.approx((logits.argmax(1) == y).double().mean().item(), abs=1e-12)


def test_darts_streams_come_from_named_purposes():
    algo = build("darts", "nb201", "algo/modifiers=[sdarts_rs]")
    expected = {
        "noise": stream_seed(0, Purpose.ARCH_NOISE),
        "train": stream_seed(0, Purpose.DARTS_TRAIN_DATA),
        "alpha_batches": stream_seed(0, Purpose.DARTS_ALPHA_DATA),
        "eval": stream_seed(0, Purpose.DARTS_EVAL_DATA),
    }
    got = {
        "noise": algo.noise.initial_seed(),
        "train": algo.train_loader.generator.initial_seed(),
        "alpha_batches": algo.val_loader.generator.initial_seed(),
        "eval": algo.eval_loader.generator.initial_seed(),
    }
    assert got == expected and len(set(got.values())) == 4
    g = torch.Generator().manual_seed(stream_seed(0, Purpose.ALPHA_INIT))
    assert torch.equal(algo.alphas["cell"], 1e-3 * torch.randn(6, 5, generator=g))
    assert algo.ctx.data.split["method"] == "first"  # quark0's split by default


# ---- CLI ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("space", SPACES)
def test_cli_a2m_end_to_end(space, tmp_path):
    args = [
        sys.executable,
        "-m",
        "nasflat.cli",
        "search",
        "algo=a2m",
        f"space={space}",
        "dataset=digits",
        "debug=tiny",
        "dataset.max_train=64",
        "algo.epochs=2",
        "algo.batch_size=32",
        "retrain=none",
        f"out_root={tmp_path}",
        *(["dataset.split_method=random"] if space == "darts" else []),  # an explicit split wins over quark0's
    ]
    proc = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"}, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = list(tmp_path.glob("*/*/results.json"))
    results = json.loads(path.read_text())
    s = results["search"]
    assert s["selection"] == "final_epoch" and s["alpha_passes_per_step"] == 4
    assert s["arch_grad"]["rho"] == (1e-2 if space == "nb201" else 1e-1)
    assert results["arch"] == s["final_arch"] and "supernet_time_s" in s and s["supernet_time_s"] == 0.0
    split = results["data"]["split"]
    if space == "nb201":  # the default: quark0's / A²M's first half for w, the rest for α
        assert split == {
            "method": "first",
            "portion": 0.5,
            "seed": None,
            "file": None,
            "chosen_by": "the search method's official split (first)",
        }
    else:
        assert split["method"] == "random" and split["chosen_by"] == "dataset.split_method"
        assert split["seed"] == stream_seed(0, Purpose.SPLIT) and split["portion"] == 0.5
    assert results["data"]["split_method"] == split["method"]
    assert results["data"]["sizes"]["search_val"] == 32  # max_train 64, portion 0.5
    lines = [json.loads(x) for x in (path.parent / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in lines if r["phase"] == "search"]
    assert len(epochs) == 2 and all("alpha_entropy" in r and "param_free_ops" in r for r in epochs)
    assert not (path.parent / "checkpoints" / "supernet.pt").exists()  # no SPOS phase for DARTS
