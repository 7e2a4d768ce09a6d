"""Evaluators: GeNAS flatness against a float64 hand computation, ABS angle, NASWOT, short training, table noise,
the neighborhood wrapper and sharding across (simulated) ranks."""

from __future__ import annotations

import copy
import math
from itertools import islice
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasflat import distributed
from nasflat.context import DataSpec, SearchContext
from nasflat.evaluators.angle import AngleEvaluator, angle, path_vector
from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.combined import AccFlatnessEvaluator, AngleFlatnessEvaluator
from nasflat.evaluators.flatness import FlatnessEvaluator, check_stds, flatness_from_losses
from nasflat.evaluators.naswot import NaswotEvaluator, naswot_score
from nasflat.evaluators.neighborhood import Neighborhood, NeighborhoodEvaluator
from nasflat.evaluators.short_train import ShortTrainEvaluator
from nasflat.evaluators.supernet import SupernetEvaluator
from nasflat.hardware import rng_fork
from nasflat.spaces.darts import DartsSpace, DartsSupernet
from nasflat.spaces.nb201 import NB201Arch, NB201Space

ARCH = NB201Arch((3, 1, 2, 0, 3, 4))  # every op kind, one `none`


def make_ctx(space, seed: int = 0) -> SearchContext:
    return SearchContext(
        space=space, seed=seed, data_spec=DataSpec(name="digits", root="", max_train=256, max_test=128)
    )


def trainer(ctx: SearchContext, dtype=torch.float32, **options):
    """A stand-in for the finished SupernetTrainer: a (briefly perturbed) supernet and its initial weights."""
    net = ctx.build_supernet(affine=True, **options).to(dtype)
    init = {k: v.detach().clone() for k, v in net.state_dict().items()}
    with torch.no_grad(), rng_fork(123):
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))  # "training" moved the weights
    return SimpleNamespace(supernet=net, init_state=init)


@pytest.fixture(scope="module")
def nb201_ctx():
    return make_ctx(NB201Space())


# ---- flatness ---------------------------------------------------------------------------------------------------
def test_flatness_formula():
    losses, stds = (2.0, 2.1, 2.5), (0.001, 0.003, 0.006)
    poor = 2.0 / 0.001 + 0.1 / 0.002 + 0.4 / 0.003
    assert flatness_from_losses(losses, stds) == pytest.approx(1 / (poor + 1e-5), rel=1e-12)
    assert flatness_from_losses(losses, stds, alpha=0.5) == pytest.approx(1 / (poor - 1000 + 1e-5), rel=1e-12)
    # a loss that goes *down* with more noise still counts as a slope (absolute values)
    assert flatness_from_losses((1.0, 0.9), (0.1, 0.2)) == pytest.approx(1 / (10 + 1 + 1e-5))
    with pytest.raises(ValueError, match="strictly increasing"):
        check_stds((0.003, 0.001))
    with pytest.raises(ValueError, match="one loss per std"):
        flatness_from_losses((1.0,), (0.1, 0.2))


def hand_flatness(ctx, net, arch, stds, *, bn_images, val_images, batch, seed, bn_seed, cumulative=True):
    """The official procedure (get_cand_wlm) written out plainly: recalibrate, deepcopy, perturb, average losses."""
    model = copy.deepcopy(net)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.zero_()
            m.running_var.fill_(1.0)
            m.num_batches_tracked.zero_()
    model.train()
    bn_loader = ctx.loader("search_train", batch, train=True, seed=bn_seed)
    with torch.no_grad():
        for x, _ in islice(bn_loader, math.ceil(bn_images / batch)):
            model(x.double(), arch)
    model.eval()
    noisy = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    losses, prev = [], 0.0
    for s in stds:
        with torch.no_grad():
            for name, p in noisy.named_parameters():
                if not cumulative:
                    p.copy_(dict(model.named_parameters())[name])
                p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * ((s - prev) if cumulative else s))
        prev = s
        per_batch = []
        with torch.no_grad():
            for x, y in islice(ctx.loader("search_val", batch, train=False), math.ceil(val_images / batch)):
                per_batch.append(F.cross_entropy(noisy(x.double(), arch), y).item())
        losses.append(sum(per_batch) / len(per_batch))
    poor = abs(losses[0] / stds[0]) + sum(
        abs((losses[i + 1] - losses[i]) / (stds[i + 1] - stds[i])) for i in range(len(stds) - 1)
    )
    return 1.0 / (poor + 1e-5), losses


@pytest.mark.parametrize("cumulative", [True, False])
def test_flatness_matches_hand_computation_in_float64(nb201_ctx, cumulative):
    ctx, stds = nb201_ctx, (0.01, 0.03, 0.06)
    tr = trainer(ctx, torch.float64, C=2, N=1)
    before = {k: v.clone() for k, v in tr.supernet.named_parameters()}
    # 100 val images in batches of 48 -> 48 + 48 + 32: the partial batch weighs like a full one
    kw = dict(bn_images=64, val_images=100, batch=48, seed=7, bn_seed=99)
    expected, hand_losses = hand_flatness(ctx, tr.supernet, ARCH, stds, cumulative=cumulative, **kw)
    ev = FlatnessEvaluator(
        ctx,
        tr,
        stds=stds,
        bn_images=64,
        val_images=100,
        batch_size=48,
        eval_batch_size=128,
        noise_seed=7,
        noise="shared",  # the hand computation draws once from seed 7
        cumulative=cumulative,
    )
    ev.data.bn_seed = 99
    (score,) = ev.score([ARCH])
    assert ev.data.num_val_batches == 3
    assert ev.last_losses[ARCH] == pytest.approx(hand_losses, rel=1e-12, abs=0)
    assert score == pytest.approx(expected, rel=1e-10)
    for k, v in tr.supernet.named_parameters():  # perturbation undone exactly
        assert torch.equal(v, before[k]), k
    assert ev.evaluations == 1 and ev.score([ARCH]) == [score] and ev.evaluations == 1  # cached


def test_flatness_noise_is_cumulative_with_nominal_denominators():
    """The perturbation in force at level i has std sqrt(s1^2 + sum (s_k - s_{k-1})^2), not s_i."""
    ctx = make_ctx(DartsSpace())
    tr = trainer(ctx, C=4, layers=3)
    stds = (0.001, 0.003, 0.006)
    seen = []
    for cumulative in (True, False):
        ev = FlatnessEvaluator(ctx, tr, stds=stds, bn_images=32, val_images=32, batch_size=32, cumulative=cumulative)
        w0 = torch.cat([p.detach().reshape(-1).clone() for p in tr.supernet.parameters()])
        deltas = []
        real = ev.data.outputs

        def spy(model, arch, real=real, w0=w0, deltas=deltas):
            deltas.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]) - w0)
            return real(model, arch)

        ev.data.outputs = spy
        ev.score([ctx.space.sample(np.random.default_rng(0))])
        seen.append([float(d.std()) for d in deltas])
    n = sum(p.numel() for p in tr.supernet.parameters())
    assert n > 20_000  # enough entries for a 3% check of a standard deviation
    cum, fresh = seen
    assert cum == pytest.approx(
        [0.001, math.sqrt(0.001**2 + 0.002**2), math.sqrt(0.001**2 + 0.002**2 + 0.003**2)], rel=0.03
    )
    assert fresh == pytest.approx(list(stds), rel=0.03)


def test_flatness_is_deterministic_and_seeded(nb201_ctx):
    ctx = nb201_ctx
    archs = [ctx.space.sample(np.random.default_rng(i)) for i in range(3)]
    kw = dict(stds=(0.01, 0.02), bn_images=32, val_images=64, batch_size=32)
    a = FlatnessEvaluator(ctx, trainer(ctx, C=2, N=1), **kw).score(archs)
    b = FlatnessEvaluator(ctx, trainer(ctx, C=2, N=1), **kw).score(archs[::-1])[::-1]  # order does not matter
    c = FlatnessEvaluator(ctx, trainer(ctx, C=2, N=1), noise_seed=5, **kw).score(archs)
    assert a == b and a != c
    assert all(0 < s < 1 / 1e-5 for s in a)


def test_flatness_noise_is_fresh_per_candidate_unless_shared(nb201_ctx):
    ctx = nb201_ctx
    archs = [ctx.space.sample(np.random.default_rng(i)) for i in range(2)]
    kw = dict(stds=(0.01, 0.02), bn_images=32, val_images=32, batch_size=32)
    for noise, same in (("per_candidate", False), ("shared", True)):
        ev = FlatnessEvaluator(ctx, trainer(ctx, C=2, N=1), noise=noise, **kw)
        params = [p for _, p in ev.supernet.named_parameters()]
        d0, d1 = ev._draws(params, archs[0]), ev._draws(params, archs[1])
        assert torch.equal(d0[0][0], d1[0][0]) is same
        assert torch.equal(d0[0][0], ev._draws(params, archs[0])[0][0])  # deterministic per architecture


# ---- supernet accuracy, angle, combinations ---------------------------------------------------------------------
def test_supernet_accuracy_is_a_fraction_and_loss_negative(nb201_ctx):
    tr = trainer(nb201_ctx, C=2, N=1)
    acc = SupernetEvaluator(nb201_ctx, tr, bn_images=32, val_images=64).score([ARCH])[0]
    loss = SupernetEvaluator(nb201_ctx, tr, metric="loss", bn_images=32, val_images=64).score([ARCH])[0]
    assert 0 <= acc <= 1 and loss < 0
    assert acc * 64 == pytest.approx(round(acc * 64))


def test_angle_zero_without_training_and_matches_manual_cosine(nb201_ctx):
    tr = trainer(nb201_ctx, C=2, N=1)
    ev = AngleEvaluator(nb201_ctx, tr)
    v0, v1 = path_vector(ev.initial, ARCH), path_vector(tr.supernet, ARCH)
    a, b = v0.double().numpy(), v1.double().numpy()
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert ev.score([ARCH])[0] == pytest.approx(math.acos(cos), rel=1e-9) and ev.score([ARCH])[0] > 0
    assert AngleEvaluator(nb201_ctx, tr, normalize=True).score([ARCH])[0] == pytest.approx(math.acos(cos) / math.pi)
    same = SimpleNamespace(supernet=tr.supernet, init_state=tr.supernet.state_dict())
    assert AngleEvaluator(nb201_ctx, same).score([ARCH])[0] == pytest.approx(0.0, abs=1e-6)
    assert angle(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])) == pytest.approx(math.pi / 2)


def test_angle_vector_follows_abs_chains():
    space = NB201Space()
    net = space.supernet(10, C=2, N=1, affine=True)
    base = path_vector(net, (0,) * 6).numel()  # all `none`: stem, residual blocks, last BN, classifier weight
    extra = sum(p.numel() for m in (net.stem, net.lastact) for p in m.parameters()) + net.classifier.weight.numel()
    extra += sum(p.numel() for c in net.cells if not hasattr(c, "path") for p in c.parameters())
    assert base == extra
    # all skip: chains 0-1-2-3 (3 edges), 0-1-3, 0-2-3 (2 each), 0-3 (1) -> 8 identity matrices per cell
    widths = [2, 4, 8]
    assert path_vector(net, (1,) * 6).numel() == base + 8 * sum(w * w for w in widths)
    # only 3<-0 is not `none`: one chain; a pooling edge is a (C, 3, 3) kernel of 1/9
    v = path_vector(net, (0, 0, 0, 4, 0, 0))
    assert v.numel() == base + sum(9 * w for w in widths) and (v[:18] == 1 / 9).all()
    assert len(DartsSupernet.abs_chains()) == 30 and len(set(DartsSupernet.abs_chains())) == 30
    darts = DartsSpace()
    dnet = darts.supernet(10, C=4, layers=3, affine=True)
    g = darts.sample(np.random.default_rng(0))
    assert torch.equal(path_vector(dnet, g), path_vector(dnet, darts.encode(g)))  # genotype == its 28 ints


def test_combined_scores_follow_genas_formulas(nb201_ctx):
    tr = trainer(nb201_ctx, C=2, N=1)
    kw = dict(stds=(0.01, 0.02), bn_images=32, val_images=64, batch_size=32)
    f = FlatnessEvaluator(nb201_ctx, tr, **kw).score([ARCH])[0]
    a = AngleEvaluator(nb201_ctx, tr, normalize=True).score([ARCH])[0]
    assert AngleFlatnessEvaluator(nb201_ctx, tr, gamma=16, **kw).score([ARCH])[0] == pytest.approx(
        a + 16 / 0.01 * f, rel=1e-12
    )
    acc = SupernetEvaluator(nb201_ctx, tr, bn_images=48, val_images=64, batch_size=32).score([ARCH])[0]
    af = AccFlatnessEvaluator(nb201_ctx, tr, gamma=2, acc_bn_images=48, acc_val_images=64, **kw)
    assert af.score([ARCH])[0] == pytest.approx(acc + 2 / 0.01 * f, rel=1e-12)


# ---- NASWOT ---------------------------------------------------------------------------------------------------
class Toy(nn.Module):
    """conv -> relu_a -> linear; relu_b feeds nothing that reaches the output (must not count)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu_a, self.relu_b = nn.ReLU(), nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 1)

    def forward(self, x):
        h = self.conv(x)
        self.relu_b(h * 2)  # dead branch
        return self.fc(self.relu_a(h).flatten(1))


def test_naswot_kernel_and_two_pass_rule():
    torch.manual_seed(0)
    net, x = Toy(), torch.randn(6, 3, 8, 8)
    c = (net.conv(x).reshape(6, -1) > 0).double()
    k = c @ c.T + (1 - c) @ (1 - c).T  # the number of units on which two images agree
    assert naswot_score(net, x) == pytest.approx(float(torch.linalg.slogdet(k)[1]), rel=1e-12)
    assert net.conv.weight.grad is None  # the jacobian pass writes no parameter gradients


def test_naswot_scores_nb201_archs_deterministically(nb201_ctx):
    ev = NaswotEvaluator(nb201_ctx, batch_size=16, network={"C": 2, "N": 1})
    archs = [NB201Arch((3,) * 6), NB201Arch((1, 0, 0, 0, 0, 0)), ARCH]
    a = ev.score(archs)
    b = NaswotEvaluator(nb201_ctx, batch_size=16, network={"C": 2, "N": 1}).score(archs[::-1])[::-1]
    assert a == b and ev.batch().shape == (16, 3, 16, 16)
    assert a[0] > a[1] and a[2] > -math.inf
    assert NaswotEvaluator(nb201_ctx, batch_size=16, network={"C": 2, "N": 1}).score([(0,) * 6]) == [-math.inf]


def brute_force_logdet(net: nn.Module, x: torch.Tensor, exclude: set[nn.Module]) -> float:
    """log|det K| by hand: one train-mode forward, K summed over every ReLU not in ``exclude``, from its input codes."""
    net.train()
    k = torch.zeros(len(x), len(x), dtype=torch.float64)

    def add(_module, inputs, _out):
        c = (inputs[0].reshape(len(x), -1) > 0).double()
        k.add_(c @ c.T + (1 - c) @ (1 - c).T)

    relus = [m for m in net.modules() if isinstance(m, nn.ReLU) and m not in exclude]
    handles = [m.register_forward_hook(add) for m in relus]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return float(torch.linalg.slogdet(k)[1])


@pytest.mark.parametrize(
    "arch",
    [(3, 0, 0, 1, 0, 0), (3, 0, 0, 0, 0, 0)],  # node 1 = conv(x) consumed only through `none`; the second is cut off
    ids=["none_only_consumer", "cut_off"],
)
def test_naswot_keeps_none_as_a_zero_op_in_the_scoring_graph(arch):
    space = NB201Space()
    x = torch.randn(12, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with rng_fork(0):
        kept = space.network(arch, 1, C=2, N=1, keep_none=True)
    with rng_fork(0):
        plain = space.network(arch, 1, C=2, N=1)
    # the ordinary network is unchanged: same parameters, same values, same outputs
    assert plain.state_dict().keys() == kept.state_dict().keys()
    assert all(torch.equal(p, q) for p, q in zip(plain.state_dict().values(), kept.state_dict().values()))
    assert torch.equal(plain.train()(x), kept.train()(x))
    # the official graph: every ReLU reaches the logits (through x * 0), so every ReLU counts
    score = naswot_score(kept, x)
    assert math.isfinite(score) and score == pytest.approx(brute_force_logdet(kept, x, set()), rel=1e-12)
    # the ordinary network skips `none`: the ReLU of the conv on edge 1<-0 (in every cell) never reaches the logits
    unreached = {m for cell in plain.cells if hasattr(cell, "arch") for m in cell.edges[0].modules()}
    assert any(isinstance(m, nn.ReLU) for m in unreached)
    if arch[3] == 0:  # 3<-0 is `none` too: the cell's output is cut off, no input gradient, -inf as before
        assert naswot_score(plain, x) == -math.inf
    else:
        plain_score = naswot_score(plain, x)
        assert plain_score == pytest.approx(brute_force_logdet(plain, x, unreached), rel=1e-12)
        assert plain_score != pytest.approx(score, rel=1e-6)


def test_naswot_evaluator_scores_the_official_graph_unless_asked(nb201_ctx):
    cut = NB201Arch((3, 0, 0, 0, 0, 0))
    official = NaswotEvaluator(nb201_ctx, batch_size=16, network={"C": 2, "N": 1})
    ordinary = NaswotEvaluator(nb201_ctx, batch_size=16, network={"C": 2, "N": 1, "keep_none": False})
    assert official.describe()["network"]["keep_none"] is True
    assert math.isfinite(official.score([cut])[0]) and ordinary.score([cut]) == [-math.inf]
    with pytest.raises(ValueError, match="keep_none=False"):
        DartsSpace().network(DartsSpace().sample(np.random.default_rng(0)), 10, C=4, layers=3, keep_none=False)


# ---- short training -------------------------------------------------------------------------------------------
def test_short_training_is_deterministic(nb201_ctx):
    kw = dict(epochs=1, batch_size=32, network={"C": 2, "N": 1}, max_batches=2)
    a = ShortTrainEvaluator(nb201_ctx, **kw).score([ARCH])[0]
    assert a == ShortTrainEvaluator(nb201_ctx, **kw).score([ARCH])[0] and 0 <= a <= 1


# ---- table noise --------------------------------------------------------------------------------------------------
def test_benchmark_noise_is_fixed_per_arch_and_seed(nb201_csv):
    from nasflat.benchmarks.nb201 import NB201Table
    from nasflat.evaluators.benchmark import BenchmarkEvaluator

    table = NB201Table.load(nb201_csv)
    ctx = SearchContext(space=NB201Space(), seed=0, table=table)
    archs = table.archs[:2000]
    clean = np.array(BenchmarkEvaluator(ctx).score(archs))
    noisy = np.array(BenchmarkEvaluator(ctx, noise_std=2.0).score(archs))
    again = np.array(BenchmarkEvaluator(ctx, noise_std=2.0).score(archs[::-1])[::-1])
    other = np.array(BenchmarkEvaluator(ctx, noise_std=2.0, noise_seed=1).score(archs))
    assert np.array_equal(noisy, again) and not np.array_equal(noisy, other)
    assert abs((noisy - clean).mean()) < 0.15 and (noisy - clean).std() == pytest.approx(2.0, rel=0.05)


# ---- neighborhood wrapper -----------------------------------------------------------------------------------------
class Fake(Evaluator):
    """Score = number of 3x3 convs + 0.1 * number of skips; counts calls."""

    name = "fake"

    def __init__(self, space) -> None:
        super().__init__(space)
        self.batches: list[int] = []

    def _score_batch(self, archs):
        self.batches.append(len(archs))
        return [a.count(3) + 0.1 * a.count(1) for a in archs]


def test_neighborhood_aggregates_over_members():
    space = NB201Space()
    inner = Fake(space)
    na = Neighborhood().wrap(inner, seed=0)
    members = na.members(ARCH)
    assert members[0] == ARCH and len(members) == 25 and set(members[1:]) == set(space.neighbors(ARCH, 1))
    (score,) = na.score([ARCH])
    assert score == pytest.approx(np.mean([m.count(3) + 0.1 * m.count(1) for m in members]))
    assert inner.evaluations == 25 and na.evaluations == 1 and na.total_evaluations == 25
    assert inner.batches == [25]  # one batched inner call
    # a neighbor's neighborhood overlaps: only the new members cost evaluations
    other = members[1]
    assert na.cost([other]) == len(set(na.members(other)) - set(members))
    for agg, fn in (("median", np.median), ("min", np.min)):
        ev = NeighborhoodEvaluator(Fake(space), Neighborhood(agg=agg, include_center=False))
        assert ev.score([ARCH])[0] == pytest.approx(fn([m.count(3) + 0.1 * m.count(1) for m in members[1:]]))


def test_neighborhood_sampling_and_dedup():
    space = NB201Space()
    na = Neighborhood(neighbors=5).wrap(Fake(space), seed=3)
    m = na.members(ARCH)
    assert len(m) == 6 and set(m[1:]) <= set(space.neighbors(ARCH, 1))
    assert m == Neighborhood(neighbors=5).wrap(Fake(space), seed=3).members(ARCH)  # fixed per (seed, arch)
    assert m != Neighborhood(neighbors=5).wrap(Fake(space), seed=4).members(ARCH)
    # node 1 fed by `none` only: edges leaving node 1 cannot matter -> many neighbors identical to the centre
    cut = NB201Arch((0, 3, 3, 3, 3, 3))
    dd = Neighborhood(dedup=True).wrap(Fake(space), seed=0).members(cut)
    keys = [space.canonical(a) for a in dd]
    assert len(keys) == len(set(keys)) < 25
    assert Neighborhood(radius=2).wrap(Fake(space), seed=0).members(ARCH).__len__() == 1 + 24 + 240


# ---- sharding ---------------------------------------------------------------------------------------------------
def test_scores_are_sharded_and_gathered_in_order(monkeypatch):
    space = NB201Space()
    archs = [space.sample(np.random.default_rng(i)) for i in range(7)]

    class Parallel(Fake):
        parallel = True

    expected = Fake(space).score(archs)
    world, scored = 3, []

    def gather(mine):
        parts = []
        for r in range(world):  # what each rank would have computed
            share = archs[r::world]
            scored.append(len(share))
            parts.append(Fake(space)._score_batch(share))
        assert parts[0] == mine
        return parts

    monkeypatch.setattr(distributed, "world_size", lambda: world)
    monkeypatch.setattr(distributed, "rank", lambda: 0)
    monkeypatch.setattr(distributed, "all_gather_objects", gather)
    ev = Parallel(space)
    assert ev.score(archs) == expected and ev.batches == [3] and scored == [3, 2, 2]


def test_naswot_jacobian_probe_sees_the_same_relus():
    """The reach of the jacobian pass is structural: 2 probe images mark the same ReLUs as the whole batch, also
    for ReLUs reached only through parameters (node 1 fed by `none`)."""
    space = NB201Space()
    x = torch.randn(12, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for arch in [(0, 3, 2, 0, 4, 3), (3, 0, 3, 1, 0, 2)]:
        with rng_fork(0):
            net = space.network(arch, 1, C=2, N=1)
        assert naswot_score(net, x, probe=2) == naswot_score(net, x, probe=12)
