"""`analyze evaluators`: its statistics against brute force and hand examples, the supernet reuse contract (load,
never train), snapshots and resumable scoring, and the CLI end to end on digits."""

from __future__ import annotations

import functools
import json
import math
import statistics
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import nasflat
from nasflat.analysis import evaluator_report as rep
from nasflat.analysis import rank_study as rs
from nasflat.analysis.evaluators import (
    ReusedSupernet,
    ScoringPhase,
    SnapshotTrainer,
    Study,
    StudyConfig,
    StudyResult,
    find_search_supernet,
    sample_archs,
    study_problems,
)
from nasflat.benchmarks.nb201 import NB201Table
from nasflat.checkpoint import CheckpointStore
from nasflat.context import DataSpec, SearchContext
from nasflat.evaluators.angle import AngleEvaluator, angle, path_vector
from nasflat.evaluators.base import Evaluator
from nasflat.phases import run_phase
from nasflat.spaces.nb201 import NB201Space
from nasflat.tracking import Tracker
from nasflat.train import SupernetTrainer

SPACE = NB201Space()
DIGITS = DataSpec(name="digits", root="", max_train=64, max_test=32)


def brute_tau_b(x, y) -> float:
    num = nx = ny = 0
    for i, j in combinations(range(len(x)), 2):
        sx, sy = np.sign(x[j] - x[i]), np.sign(y[j] - y[i])
        num, nx, ny = num + sx * sy, nx + (sx != 0), ny + (sy != 0)
    return num / math.sqrt(nx * ny)


# ---- statistics -------------------------------------------------------------------------------------------------
def test_truth_agreement_drops_non_finite_scores_and_counts_them():
    r = np.random.default_rng(0)
    truth = np.round(r.normal(size=40), 1)
    score = truth + r.normal(size=40)
    score[[3, 17, 30]] = -np.inf  # NASWOT's score of a network whose logits ignore the input
    row = rs.truth_agreement(score, truth, ks=(5,))
    keep = np.isfinite(score)
    assert row["dropped"] == 3 and row["n"] == 37
    assert row["kendall_tau"] == pytest.approx(brute_tau_b(score[keep], truth[keep]), rel=1e-12)
    t, chosen = truth[keep], np.argsort(-score[keep])[:5]  # scores are distinct; truth ties at the cut all count
    assert row["top5_precision"] == sum(t[i] >= sorted(t)[-5] for i in chosen) / 5


def test_pairwise_tau_is_brute_force_per_pair_with_pairwise_drops():
    r = np.random.default_rng(1)
    cols = {"a": r.integers(0, 5, 30).astype(float), "b": r.normal(size=30), "c": r.normal(size=30)}
    cols["b"][2] = -np.inf
    names, m = rs.pairwise_tau(cols)
    assert names == ["a", "b", "c"] and np.allclose(m, m.T) and np.all(np.diag(m) == 1)
    keep = np.arange(30) != 2
    assert m[0, 1] == pytest.approx(brute_tau_b(cols["a"][keep], cols["b"][keep]), rel=1e-12)
    assert m[0, 2] == pytest.approx(brute_tau_b(cols["a"], cols["c"]), rel=1e-12)  # all 30 rows: c and a finite


def test_top1_and_change_counting_hand_example():
    assert rs.top1([0.1, 0.9, 0.9, -math.inf]) == 1  # ties: the first in sampling order
    assert rs.top1([-math.inf, 2.0, math.nan]) == 1 and rs.top1([-math.inf]) is None
    assert rs.consecutive_changes(["a", "a", "b", "a"]) == (2, 3)  # a->a same, a->b, b->a
    assert rs.pair_changes(["a", "b", "a"]) == (2, 3)  # pairs (0,1) and (1,2) differ, (0,2) agree
    assert rs.consecutive_changes(["a"]) == (0, 0)
    m, s = rs.mean_std([0.2, 0.4, 0.9, math.nan])
    assert m == pytest.approx(0.5) and s == pytest.approx(statistics.stdev([0.2, 0.4, 0.9]))
    assert math.isnan(rs.mean_std([0.3])[1])


def hand_result() -> StudyResult:
    """4 archs, 2 seeds, a supernet evaluator at epochs 1 and 2, and a supernet-free one."""
    truth = [90.0, 80.0, 70.0, 60.0]
    scores = {
        (0, 1, "sup"): [1.0, 2.0, 3.0, 4.0],  # top-1 arch 3
        (0, 2, "sup"): [4.0, 3.0, 2.0, 1.0],  # top-1 arch 0 (a change between epochs)
        (1, 1, "sup"): [4.0, 3.0, 2.0, 1.0],  # top-1 arch 0
        (1, 2, "sup"): [4.0, 3.0, 1.0, 2.0],  # top-1 arch 0 (no change)
        (0, None, "free"): [4.0, 3.0, 2.0, -math.inf],
        (1, None, "free"): [1.0, 3.0, 2.0, 0.0],
    }
    return StudyResult([SPACE.sample(np.random.default_rng(i)) for i in range(4)], truth, scores, 2, [0, 1], {}, {})


def test_summary_tables_on_a_hand_example():
    res = hand_result()
    table = {r["evaluator"]: r for r in rep.truth_table(res, ks=(1,))}
    # final epoch 2: seed 0 τ = 1, seed 1: one discordant pair of 6 -> τ = 4/6
    assert table["sup"]["kendall_tau"] == pytest.approx((1 + 4 / 6) / 2)
    assert table["sup"]["kendall_tau_std"] == pytest.approx(statistics.stdev([1, 4 / 6]))
    assert table["free"]["dropped"] == 1 and table["free"]["n"] == 3  # n of the first seed
    var = {v["evaluator"]: v for v in rep.variance_rows(res)}
    assert var["sup"]["top1_seed_pairs_changed"] == 0 and var["sup"]["seed_pairs"] == 1  # both seeds: arch 0
    assert (var["sup"]["top1_epoch_changes"], var["sup"]["epoch_transitions"]) == (1, 2)
    assert var["free"]["top1_seed_pairs_changed"] == 1 and var["free"]["epoch_transitions"] == 0
    assert var["sup"]["tau_per_epoch"]["1"]["mean"] == pytest.approx(0.0)  # -1 and +1
    mats = rep.tau_matrices(res)
    i, j = mats["names"].index("sup"), mats["names"].index(rep.TRUTH)
    assert mats["mean"][i][j] == pytest.approx(table["sup"]["kendall_tau"])


def test_genas_rows_label_scale_and_published_values():
    mats = {"names": ["supernet", "flatness", "angle"], "mean": np.eye(3).tolist(), "std": np.zeros((3, 3)).tolist()}
    rows = rep.genas_rows(mats, "cifar100", paper_scale=False)
    assert [(r["pair"], r["published"]) for r in rows] == [("Angle & Flatness", 0.472), ("Accuracy & Flatness", 0.757)]
    assert all("DIFFERENT SCALE" in r["scale"] for r in rows)
    paper = {"per_seed": {0: {"C": 16, "N": 5, "epochs": 250, "search_train_images": 25000}}}
    assert rep.is_paper_scale(paper) and not rep.is_paper_scale({"per_seed": {0: {**paper["per_seed"][0], "N": 1}}})


def test_sample_archs_is_the_generators_first_distinct_draws():
    archs = sample_archs(SPACE, 50, seed=7)
    rng, expected = np.random.default_rng(7), []
    while len(expected) < 50:
        a = SPACE.sample(rng)
        expected += [] if a in expected else [a]
    assert archs == expected and len(set(archs)) == 50


# ---- phases: snapshots and resumable scoring ---------------------------------------------------------------------
def tiny_ctx(seed: int = 0) -> SearchContext:
    return SearchContext(space=SPACE, seed=seed, data_spec=DIGITS, supernet_options={"C": 4, "N": 1})


def test_snapshot_trainer_keeps_the_weights_of_chosen_epochs(tmp_path):
    trainer = SupernetTrainer(tiny_ctx(), epochs=2, batch_size=32)
    phase = SnapshotTrainer(trainer, [1], "supernet_seed0")
    phase.run_step(0)
    after1 = {k: v.clone() for k, v in trainer.supernet.state_dict().items()}
    phase.run_step(1)
    assert set(phase.snapshots) == {1}
    assert all(torch.equal(phase.snapshots[1][k], after1[k]) for k in after1)
    assert any(not torch.equal(after1[k], v) for k, v in trainer.supernet.state_dict().items())
    again = SnapshotTrainer(SupernetTrainer(tiny_ctx(), epochs=2, batch_size=32), [1], "supernet_seed0")
    again.load_state_dict(phase.state_dict())
    assert all(torch.equal(again.snapshots[1][k], after1[k]) for k in after1)


class Counting(Evaluator):
    name = "counting"

    def __init__(self) -> None:
        super().__init__(SPACE)
        self.calls = 0

    def _score_batch(self, archs):
        self.calls += len(archs)
        return [float(sum(a)) for a in archs]


def test_scoring_phase_resumes_from_its_checkpoint_without_rescoring(tmp_path):
    store, tracker = CheckpointStore(tmp_path, "fp"), Tracker(run_dir=tmp_path, config={})
    archs = sample_archs(SPACE, 7, seed=0)
    first = ScoringPhase("scores", {"c": Counting()}, archs, chunk=3)
    run_phase(first, store, tracker)
    assert first.total_steps == 3 and first.evaluators["c"].calls == 7
    fresh = Counting()
    second = ScoringPhase("scores", {"c": fresh}, archs, chunk=3)
    run_phase(second, store, tracker)
    assert fresh.calls == 0 and second.scores() == first.scores() == {"c": [float(sum(a)) for a in archs]}


# ---- supernet reuse: load, never train ----------------------------------------------------------------------------
def fake_search_run(tmp_path: Path, node: dict, step: int = 2) -> tuple[Path, SupernetTrainer]:
    """A `nasflat search` run directory as the pipeline leaves it: run.json + checkpoints/supernet.pt."""
    run = tmp_path / "search_run"
    trainer = SupernetTrainer(tiny_ctx(seed=5), epochs=2, batch_size=32)
    with torch.no_grad():  # "trained" weights that differ from the initial ones
        for p in trainer.supernet.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
    CheckpointStore(run, "their-fingerprint").save("supernet", {"step": step, "phase": trainer.state_dict()})
    (run / "run.json").write_text(json.dumps({"config": {**node, "seed": 5}, "files": {}}))
    return run, trainer


NODE = {
    "space": {"_target_": "nasflat.spaces.nb201.NB201Space"},
    "search_net": {"C": 4, "N": 1},
    "supernet": {"_target_": "nasflat.train.SupernetTrainer", "epochs": 2, "batch_size": 32},
    "dataset": {"name": "digits", "max_train": 64, "split_method": None, "split_portion": 0.5},
}


def test_reused_supernet_is_loaded_and_never_trained(tmp_path, nb201_csv, monkeypatch):
    run, saved = fake_search_run(tmp_path, NODE)
    reused = find_search_supernet(run, NODE)
    assert reused == ReusedSupernet(run, 5, run / "checkpoints" / "supernet.pt")

    def no_training(self, step):
        raise AssertionError("a training step ran although the supernet was reused")

    monkeypatch.setattr(SupernetTrainer, "run_step", no_training)
    archs = sample_archs(SPACE, 4, seed=0)
    study = Study(
        config=StudyConfig(num_archs=4, evaluators=["angle"], seeds=None, top_k=[2], supernet_from=[str(run)]),
        space=SPACE,
        data=DIGITS,
        table=NB201Table.load(nb201_csv),
        arch_seed=0,
        hardware=tiny_ctx().hardware,
        store=CheckpointStore(tmp_path / "study", "fp"),
        tracker=Tracker(run_dir=tmp_path / "study", config={}),
        evaluators={"angle": functools.partial(AngleEvaluator)},  # the shape instantiate gives (_partial_)
        supernet_factory=lambda ctx: SupernetTrainer(ctx, epochs=2, batch_size=32),
        supernet_options={"C": 4, "N": 1},
        reused=[reused],
    )
    result = study.run()
    assert result.seeds == [5] and result.final_epoch == 2
    initial = saved.supernet.__class__(10, 4, 1, True)  # the saved initial weights, in a fresh module
    initial.load_state_dict(saved.init_state)
    want = [angle(path_vector(initial, a), path_vector(saved.supernet, a)) for a in archs]
    assert result.scores[(5, 2, "angle")] == pytest.approx(want, rel=1e-12)
    assert "supernet_seed5" not in result.timings  # no training phase ran


def test_reuse_is_refused_on_mismatch_missing_file_or_unfinished_run(tmp_path):
    run, _ = fake_search_run(tmp_path, NODE)
    with pytest.raises(ValueError, match=r"search_net\.C: 4 -> 8"):
        find_search_supernet(run, {**NODE, "search_net": {"C": 8, "N": 1}})
    with pytest.raises(ValueError, match=r"dataset\.name"):
        find_search_supernet(run, {**NODE, "dataset": {**NODE["dataset"], "name": "cifar10"}})
    with pytest.raises(FileNotFoundError, match=r"no run\.json"):
        find_search_supernet(tmp_path, NODE)
    (run / "checkpoints" / "supernet.pt").unlink()
    with pytest.raises(FileNotFoundError, match="no supernet checkpoint"):
        find_search_supernet(run, NODE)
    from nasflat.analysis.evaluators import load_supernet

    unfinished, _ = fake_search_run(tmp_path / "u", NODE, step=1)
    with pytest.raises(ValueError, match="stopped at epoch 1 of 2"):
        load_supernet(SupernetTrainer(tiny_ctx(), epochs=2, batch_size=32), find_search_supernet(unfinished, NODE))


# ---- CLI ----------------------------------------------------------------------------------------------------------
def test_cli_benchmark_without_noise_ranks_exactly_like_the_truth(tmp_path, nb201_csv):
    """On digits the truth is an explicit NB201 column; the table lookup of that column must give τ = ρ = 1."""
    out = nasflat(
        "analyze",
        "evaluators",
        "dataset=digits",
        "study.truth_dataset=cifar10",
        "study.evaluators=[benchmark,naswot]",
        "evaluator_options.benchmark.split=test",
        "evaluator_options.naswot.network={C:4,N:1}",
        "evaluator_options.naswot.batch_size=16",
        "study.num_archs=30",
        "study.top_k=[5]",
        "study.seeds=[0,1]",
        "hardware.threads=1",
        f"benchmark.nb201_table={nb201_csv}",
        f"out_root={tmp_path}",
        check=True,
    )
    assert "| benchmark | 30 | 0 | 1.000 ± 0.000 | 1.000 ± 0.000 | 1.000 ± 0.000 |" in out.stdout
    (run,) = (tmp_path / "analyze" / "evaluators").iterdir()
    data = json.loads((run / "evaluators.json").read_text())
    table = NB201Table.load(nb201_csv)
    assert [table.query(a, "cifar10", "test") for a in data["archs"]] == data["truth"]
    naswot = next(r for r in data["truth_table"] if r["evaluator"] == "naswot")
    assert -1 <= naswot["kendall_tau"] <= 1
    assert {"evaluators.md", "evaluators.csv", "scatter.png", "tau_matrix.png", "tau_per_seed_epoch.png"} <= {
        p.name for p in run.iterdir()
    }
    assert len((run / "evaluators.csv").read_text().splitlines()) == 1 + 30 * 2 * 2


@pytest.mark.parametrize(
    ("override", "message"),
    [("study.evaluators=[supernet,nope]", "study.evaluators"), ("+study.num_arch=10", "did you mean `num_archs`")],
)
def test_cli_refuses_bad_study_keys_before_any_work(tmp_path, override, message):
    bad = nasflat("analyze", "evaluators", override, "benchmark.nb201_table=x.csv", f"out_root={tmp_path}")
    assert bad.returncode == 2 and message in bad.stderr
    assert not list(tmp_path.glob("**/run.json"))  # refused before the run directory was claimed


def test_study_cross_key_problems():
    names = ["supernet", "flatness", "angle", "naswot", "benchmark"]
    ok = StudyConfig(evaluators=["supernet"], epochs_to_compare=[5], top_k=[10])
    assert study_problems(ok, names, supernet_epochs=15, uses_supernet=True, reused_seeds=[]) == []
    keys = lambda study, **kw: [p[0] for p in study_problems(study, names, **{"supernet_epochs": 15, **kw})]  # noqa: E731
    assert keys(StudyConfig(evaluators=["supernet", "supernet"]), uses_supernet=True, reused_seeds=[]) == [
        "study.evaluators"
    ]
    late = StudyConfig(evaluators=["supernet"], epochs_to_compare=[15, 3])  # the final epoch is always scored
    assert keys(late, uses_supernet=True, reused_seeds=[]) == ["study.epochs_to_compare"]
    assert keys(StudyConfig(num_archs=5, top_k=[10]), uses_supernet=True, reused_seeds=[]) == ["study.top_k"]
    reuse = StudyConfig(seeds=[0, 1, 2], epochs_to_compare=[5])
    assert keys(reuse, uses_supernet=True, reused_seeds=[7]) == ["study.epochs_to_compare", "study.seeds"]
    assert keys(StudyConfig(seeds=None), uses_supernet=False, reused_seeds=[7]) == []
    assert keys(StudyConfig(seeds=[1, 1]), uses_supernet=True, reused_seeds=[]) == ["study.seeds"]
    assert keys(StudyConfig(seeds=None), uses_supernet=True, reused_seeds=[4, 4]) == ["study.supernet_from"]


def test_trained_supernet_study_scores_snapshots_and_a_rerun_only_loads(tmp_path, nb201_csv, monkeypatch):
    """No supernet_from: trained here (2 epochs, snapshot after 1); a rerun trains and scores nothing."""
    from nasflat.evaluators.supernet import SupernetEvaluator

    def study() -> Study:
        return Study(
            config=StudyConfig(num_archs=6, evaluators=["supernet"], seeds=[0, 1], epochs_to_compare=[1], top_k=[2]),
            space=SPACE,
            data=DIGITS,
            table=NB201Table.load(nb201_csv),
            arch_seed=3,
            hardware=tiny_ctx().hardware,
            store=CheckpointStore(tmp_path, "fp"),
            tracker=Tracker(run_dir=tmp_path, config={}),
            evaluators={
                "supernet": functools.partial(
                    SupernetEvaluator, metric="loss", bn_images=16, val_images=32, batch_size=16
                )
            },
            supernet_factory=functools.partial(SupernetTrainer, epochs=2, batch_size=32),
            supernet_options={"C": 4, "N": 1},
            truth_dataset="cifar10",
        )

    first = study().run()
    assert set(first.scores) == {(s, e, "supernet") for s in (0, 1) for e in (1, 2)}
    assert first.scores[(0, 1, "supernet")] != first.scores[(0, 2, "supernet")]
    assert first.supernet["per_seed"][0]["source"].startswith("trained here")
    monkeypatch.setattr(SupernetTrainer, "run_step", lambda self, step: pytest.fail("retrained on rerun"))
    monkeypatch.setattr(SupernetEvaluator, "_score_batch", lambda self, archs: pytest.fail("rescored on rerun"))
    again = study().run()
    assert again.scores == first.scores and again.truth == first.truth


@pytest.mark.parametrize("overrides", [[], ["debug=tiny"], ["dataset=cifar100", "study.truth_split=valid"]])
def test_shipped_config_validates_clean_and_builds_every_evaluator_factory(overrides):
    from hydra import compose, initialize_config_module

    from nasflat.cli import instantiate
    from nasflat.config import validate

    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        cfg = compose("analyze_evaluators", overrides=overrides)
    validate(cfg, "analyze evaluators")
    assert isinstance(instantiate(cfg.study), StudyConfig)
    factories = {n: instantiate(node) for n, node in cfg.evaluator_options.items()}
    assert set(factories) == {p.stem for p in Path(__file__).parents[2].joinpath("conf", "evaluator").glob("*.yaml")}
