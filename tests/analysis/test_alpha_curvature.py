"""α-Hessian tracking and DARTS-ES: eigenvalues against torch.autograd.functional.hessian (float64, both spaces),
the path chosen by α's size, DARTS-ES against a line-by-line port of RobustDARTS's stateful tracker, the search
integration (no effect on the search, resume, refusal without tracking) and the report's per-epoch curve."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nasflat.algorithms.differentiable.selection import DartsES
from nasflat.analysis.alpha_curvature import AlphaCurvature, val_loss
from nasflat.checkpoint import CheckpointStore
from nasflat.data import fixed_batches
from nasflat.phases import run_phase
from nasflat.plots import curvature_curves, plot_alpha_curvature
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import NB201Space

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_darts_algorithms import build, tracker


def tiny_problem(space, images: int, size: int, **net):
    """A float64 supernet of ``space``, random α of its shapes and two random batches (sizes 3 and images - 3)."""
    torch.manual_seed(0)  # the supernet's initialisation only; the code under test takes explicit generators
    model = space.supernet(10, **net).double()
    g = torch.Generator().manual_seed(1)
    alphas = {n: 0.5 * torch.randn(s, generator=g, dtype=torch.float64) for n, s in space.weight_shapes().items()}
    x = torch.randn(images, 3, size, size, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (images,), generator=g)
    return model, alphas, [(x[:3], y[:3]), (x[3:], y[3:])]


def reference_max_eig(model, alphas, batches) -> float:
    """λ_max of torch.autograd.functional.hessian of the size-weighted mean CE over the flattened α."""
    names, shapes = list(alphas), [a.shape for a in alphas.values()]
    sizes = [math.prod(s) for s in shapes]
    n = sum(len(y) for _, y in batches)

    def f(flat: torch.Tensor) -> torch.Tensor:
        parts = [p.reshape(s) for p, s in zip(flat.split(sizes), shapes)]
        weights = {k: p.softmax(-1) for k, p in zip(names, parts)}
        return sum(torch.nn.functional.cross_entropy(model(x, weights), y, reduction="sum") for x, y in batches) / n

    model.train()
    h = torch.autograd.functional.hessian(f, torch.cat([a.reshape(-1) for a in alphas.values()]))
    return float(torch.linalg.eigvalsh((h + h.T) / 2)[-1])


def test_exact_path_on_nb201_matches_autograd_functional_hessian():
    model, alphas, batches = tiny_problem(NB201Space(), images=8, size=8, C=4, N=1)
    ref = reference_max_eig(model, alphas, batches)
    bn_before = {k: v.clone() for k, v in model.named_buffers()}
    res = AlphaCurvature()(model, alphas, batches, torch.Generator().manual_seed(0))
    assert res.path == "exact" and res.products == 30 and res.converged
    assert res.eigenvalue == pytest.approx(ref, rel=1e-10)
    for k, v in model.named_buffers():  # tracking leaves BN's running statistics as they were
        assert torch.equal(v, bn_before[k]), k


@pytest.mark.slow
def test_power_iteration_on_darts_space_matches_autograd_functional_hessian():
    space = DartsSpace()
    model, alphas, batches = tiny_problem(space, images=6, size=8, C=2, layers=3, stem_multiplier=1)
    ref = reference_max_eig(model, alphas, batches)
    assert sum(a.numel() for a in alphas.values()) > AlphaCurvature().exact_max  # the default takes power iteration
    res = AlphaCurvature(iters=1000, tol=1e-12)(model, alphas, batches, torch.Generator().manual_seed(0))
    assert res.path == "power"
    assert abs(res.eigenvalue - ref) / abs(ref) < 1e-3


@pytest.mark.slow
def test_the_path_follows_the_number_of_alpha_entries_not_the_space():
    model, alphas, batches = tiny_problem(NB201Space(), images=8, size=8, C=4, N=1)
    exact = AlphaCurvature(exact_max=30)(model, alphas, batches, torch.Generator().manual_seed(0))
    power = AlphaCurvature(exact_max=29, iters=2000, tol=1e-13)(
        model, alphas, batches, torch.Generator().manual_seed(0)
    )
    assert (exact.path, power.path) == ("exact", "power")
    assert power.eigenvalue == pytest.approx(exact.eigenvalue, rel=1e-4)


def test_val_loss_weights_batches_by_their_sizes():
    model, alphas, batches = tiny_problem(NB201Space(), images=8, size=8, C=4, N=1)
    model.eval()  # eval-mode BN: a batch's loss does not depend on how the images are grouped
    whole = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
    split = val_loss(model, list(alphas), list(alphas.values()), batches, None)().detach()
    joined = val_loss(model, list(alphas), list(alphas.values()), [whole], None)().detach()
    assert split.item() == pytest.approx(joined.item(), rel=1e-12)


def test_fixed_batches_are_a_seeded_draw_of_distinct_images():
    from nasflat.data import ImageSplit

    images = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 3, 2, 2).contiguous()
    split = ImageSplit(images, torch.arange(20))
    draw = [fixed_batches(split, images=7, batch_size=3, generator=torch.Generator().manual_seed(s), mean=(0,) * 3,
                          std=(1 / 255,) * 3) for s in (5, 5, 6)]  # fmt: skip
    labels = [torch.cat([y for _, y in d]).tolist() for d in draw]
    assert [len(b[1]) for b in draw[0]] == [3, 3, 1] and len(set(labels[0])) == 7
    assert labels[0] == labels[1] != labels[2]
    assert labels[0] == torch.randperm(20, generator=torch.Generator().manual_seed(5))[:7].tolist()
    assert torch.equal(draw[0][0][0][:, 0, 0, 0], torch.tensor(labels[0][:3], dtype=torch.float32))  # pixel = index


# ---- DARTS-ES ---------------------------------------------------------------------------------------------------
class OfficialTracker:
    """RobustDARTS src/utils.py EVLocalAvg.update + early_stop and the train_search.py loop around them, transcribed
    statement by statement (stateful, epoch-indexed), as the reference for the functional DartsES."""

    def __init__(self, window, ev_freq, epochs):
        self.window, self.ev_freq, self.epochs = window, ev_freq, epochs
        self.stop_search, self.stop_epoch = False, epochs - 1
        self.ev, self.ev_local_avg, self.la_epochs = [], [], {}
        self.la_start_idx, self.la_end_idx = 0, window

    def update(self, epoch, ev):
        self.ev.append(ev)
        if len(self.ev) >= int(np.ceil(self.window / 2)) and epoch < self.epochs - 1:
            if len(self.ev) < self.window:
                self.ev_local_avg.append(np.mean(self.ev))
            else:
                self.ev_local_avg.append(np.mean(self.ev[self.la_start_idx : self.la_end_idx]))
                self.la_start_idx += 1
                self.la_end_idx += 1
            self.la_epochs[epoch] = int(epoch - int(self.ev_freq * np.floor(self.window / 2)))
        elif len(self.ev) < int(np.ceil(self.window / 2)):
            self.la_epochs[epoch] = -1

    def early_stop(self, epoch, factor, es_start_epoch, delta):
        if int(self.la_epochs[epoch] - self.ev_freq * delta) >= es_start_epoch:
            current_la, previous_la = self.ev_local_avg[-1], self.ev_local_avg[-1 - delta]
            self.stop_search = current_la / previous_la > factor
            if self.stop_search:
                self.stop_epoch = int(self.la_epochs[epoch] - self.ev_freq * delta)


def official_stop(evs, epochs, every, window, delta, factor, start):
    """(epoch at which train_search.py breaks, stop_epoch) or None, for eigenvalues ``evs`` by epoch."""
    t = OfficialTracker(window, every, epochs)
    for epoch in range(epochs):
        if epoch % every == 0 or epoch == epochs - 1:
            t.update(epoch, evs[epoch])
            if epoch != epochs - 1:
                t.early_stop(epoch, factor, start, delta)
            if t.stop_search:
                return epoch, t.stop_epoch
    return None


def ours_stop(evs, epochs, every, es: DartsES):
    hessian = AlphaCurvature(every=every)
    seen = []
    for epoch in range(epochs):
        if not hessian.tracked(epoch, epochs):
            continue
        seen.append(evs[epoch])
        if epoch != epochs - 1 and (d := es.check_epoch(epoch, seen, every)).stop_epoch is not None:
            return epoch, d.stop_epoch
    return None


@pytest.mark.parametrize("every", [1, 2, 3])
def test_darts_es_makes_robustdarts_decisions(every):
    rng = random.Random(every)
    stops = 0
    for trial in range(300):
        window, delta = rng.choice([1, 2, 3, 4, 5, 6]), rng.choice([1, 2, 4])
        factor, start, epochs = rng.choice([1.05, 1.3, 2.0]), rng.choice([0, 3, 10]), rng.choice([12, 30, 50])
        level = [rng.uniform(0.05, 0.2)]
        for _ in range(epochs - 1):  # a random walk with the occasional jump, as sharpening DARTS produces
            level.append(level[-1] * (rng.uniform(1.2, 2.5) if rng.random() < 0.08 else rng.uniform(0.9, 1.12)))
        es = DartsES(window=window, delta=delta, factor=factor, start_epoch=start)
        expected = official_stop(level, epochs, every, window, delta, factor, start)
        assert ours_stop(level, epochs, every, es) == expected, (trial, window, delta, factor, start, epochs)
        stops += expected is not None
    assert 30 < stops < 270  # both outcomes are exercised


def test_darts_es_hand_example_with_robustdarts_defaults():
    # every=2 (their scripts' --report_freq_hessian 2), window 5, delta 4, factor 1.3, start 10: flat at 1.0, then
    # λ = 3 from epoch 20 on. At epoch e the local average is centred at e - 4 and compared with the one at e - 12.
    evs = [1.0] * 20 + [3.0] * 30
    es = DartsES()
    # epoch 22: averages of evaluations (14..22) = (1, 1, 1, 3, 3) -> 1.8 vs (6..14) -> 1.0: ratio 1.8 > 1.3
    assert ours_stop(evs, 50, 2, es) == (22, 10)
    assert es.check_epoch(22, [1.0] * 10 + [3.0] * 2, every=2).ratio == pytest.approx(1.8)
    # epoch 20 (first check allowed: 20 - 4 - 8 = 8 < 10 is not) -> no decision before 22
    assert es.check_epoch(20, [1.0] * 10 + [3.0], every=2).ratio is None


# ---- in the search ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_tracking_changes_nothing_in_the_search_and_survives_resume(tmp_path):
    on = build("darts", "nb201", "algo.epochs=3", "algo.hessian.images=16", "algo.hessian.batch_size=8")
    off = build("darts", "nb201", "algo.epochs=3", "algo.track_hessian=false")
    run_phase(on, CheckpointStore(tmp_path / "on", "fp"), tracker(tmp_path / "on"))
    run_phase(off, CheckpointStore(tmp_path / "off", "fp"), tracker(tmp_path / "off"))
    for n, a in on.alphas.items():
        assert torch.equal(a, off.alphas[n])
    assert [h["valid_loss"] for h in on.history] == [h["valid_loss"] for h in off.history]
    eigs = [h["alpha_hessian_eig"] for h in on.history]
    assert len(eigs) == 3 and "alpha_hessian_eig" not in off.history[0]
    assert [h["alpha_hessian_path"] for h in on.history] == ["exact"] * 3
    logged = [json.loads(line) for line in (tmp_path / "on" / "metrics.jsonl").read_text().splitlines()]
    assert [r["alpha_hessian_eig"] for r in logged if r.get("phase") == "search"] == eigs

    # killed after epoch 1, resumed by a fresh object: the same images and the same eigenvalues
    cut = build("darts", "nb201", "algo.epochs=1", "algo.hessian.images=16", "algo.hessian.batch_size=8")
    cut.total_steps = 1
    store = CheckpointStore(tmp_path / "cut", "fp")
    run_phase(cut, store, tracker(tmp_path / "cut"))
    resumed = build("darts", "nb201", "algo.epochs=3", "algo.hessian.images=16", "algo.hessian.batch_size=8")
    for (x0, y0), (x1, y1) in zip(on.hessian_batches, resumed.hessian_batches):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    run_phase(resumed, store, tracker(tmp_path / "cut"))
    assert [h["alpha_hessian_eig"] for h in resumed.history] == pytest.approx(eigs, rel=1e-6)


class Scripted:
    """Stands in for AlphaCurvature with scripted eigenvalues (the DARTS-ES rule is what is tested here)."""

    every = 1

    def __init__(self, values):
        self.values, self.calls = list(values), 0

    def tracked(self, epoch, epochs):
        return True

    def __call__(self, *args, **kwargs):
        from nasflat.analysis.alpha_curvature import CurvatureResult

        self.calls += 1
        return CurvatureResult(self.values[self.calls - 1], "exact", 30, True, 0.0)


def test_darts_es_selection_stops_and_returns_the_earlier_architecture(tmp_path):
    es = [
        "algo/selection=darts_es",
        "algo.selection.window=1",
        "algo.selection.delta=1",
        "algo.selection.start_epoch=0",
    ]
    algo = build("darts", "nb201", "algo.epochs=5", *es)
    algo.hessian = Scripted([1.0, 1.1, 2.0, 2.0, 2.0])
    run_phase(algo, CheckpointStore(tmp_path, "fp"), tracker(tmp_path))
    # epoch 2: 2.0 / 1.1 > 1.3 -> stop; window 1, delta 1: the architecture of epoch 1
    assert algo.stopped_at == 2 and algo.es_epoch == 1 and algo.hessian.calls == 3
    assert algo.history[1]["darts_es_ratio"] == pytest.approx(1.1) and algo.history[2]["darts_es_epoch"] == 1
    arch, acc = algo.best()
    assert algo.space.format(arch) == algo.history[1]["arch"] and acc == algo.history[1]["valid_acc"]
    assert algo.summary()["darts_es_epoch"] == 1
    fresh = build("darts", "nb201", "algo.epochs=5", *es)
    fresh.load_state_dict(algo.state_dict())
    assert fresh.es_epoch == 1 and fresh.stopped_at == 2


def test_darts_es_without_tracking_is_refused():
    from nasflat.config.schema import ConfigError, validate
    from test_darts_algorithms import compose_search

    cfg = compose_search("algo=darts", "algo/selection=darts_es", "algo.track_hessian=false")
    with pytest.raises(ConfigError, match=r"algo\.selection=DartsES: selection=darts_es stops on the tracked"):
        validate(cfg, "search")
    with pytest.raises(ValueError, match="set track_hessian=true"):
        build("darts", "nb201", "algo/selection=darts_es", "algo.track_hessian=false")
    bad = compose_search("algo=darts", "algo/selection=darts_es", "algo.hessian.every=0", "algo.selection.factor=0")
    with pytest.raises(ConfigError) as e:
        validate(bad, "search")
    assert "algo.hessian.every=0: out of range" in str(e.value) and "algo.selection.factor=0: out of range" in str(
        e.value
    )


# ---- report -----------------------------------------------------------------------------------------------------
def test_report_curve_is_mean_and_range_over_seeds(tmp_path):
    results = []
    for seed, eigs in enumerate(([0.1, 0.2, 0.4], [0.3, 0.2, 0.8])):
        run = tmp_path / f"s{seed}"
        run.mkdir()
        rows = [{"phase": "search", "step": i, "alpha_hessian_eig": v} for i, v in enumerate(eigs)]
        rows.append({"phase": "retrain", "step": 0, "alpha_hessian_eig": 99.0})  # other phases are ignored
        (run / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)))
        results.append({"_path": str(run / "results.json")})
    curves = curvature_curves(results, ["darts", "darts"])
    assert curves == {"darts": {1: [0.1, 0.3], 2: [0.2, 0.2], 3: [0.4, 0.8]}}
    assert plot_alpha_curvature(results, ["darts", "darts"], tmp_path / "c.png").stat().st_size > 0
    assert plot_alpha_curvature([{"_path": str(tmp_path / "none" / "results.json")}], ["x"], tmp_path / "n.png") is None
