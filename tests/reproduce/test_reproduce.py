"""`nasflat reproduce`: table expansion, the verdict rule by hand, refusals before any work, and the smoke run."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from tests.helpers import nasflat

from nasflat.reproduce import compare
from nasflat.reproduce.published import Published, Source, published_table
from nasflat.reproduce.run import ReproduceError, seed_values, sweeps
from nasflat.reproduce.tables import REPRO_TABLES, SCALES, repro_table

SRC = Source(citation="a paper, Table 1", url="https://example.org", kind="paper", verified=True)


def pub(mean: float, std: float | None, n: int | None) -> Published:
    return Published("darts", "cifar10", "test_acc", mean, std, n, SRC)


def test_verdict_band_is_two_standard_errors_of_the_difference_of_means():
    # published 90 ± 1 over 4 runs, ours over 4 runs with sample std 1: band = 2 * sqrt(1/4 + 1/4) = sqrt(2)
    band = 2 * math.sqrt(1 / 4 + 1 / 4)
    stats = compare.Stats.of([90.0, 91.0, 92.0, 90.0])
    assert (stats.mean, stats.n) == (90.75, 4) and stats.std == pytest.approx(statistics.stdev([90, 91, 92, 90]))
    v, used = compare.verdict(compare.Stats(91.4, 1.0, 4), pub(90.0, 1.0, 4), "test_acc", "paper")
    assert (v, used) == (compare.WITHIN, pytest.approx(band))
    v, _ = compare.verdict(compare.Stats(91.5, 1.0, 4), pub(90.0, 1.0, 4), "test_acc", "paper")
    assert v == compare.OUTSIDE
    # one run of ours: its spread is taken to be the published one -> 2 * sqrt(1/4 + 1/1)
    _, used = compare.verdict(compare.Stats(90.0, 0.0, 1), pub(90.0, 1.0, 4), "test_acc", "paper")
    assert used == pytest.approx(2 * math.sqrt(1.25))
    # 54.30 ± 0.00 against 54.30 ± 0.00: the rounding floor decides
    assert compare.verdict(compare.Stats(54.30, 0.0, 3), pub(54.3, 0.0, 3), "test_acc", "paper")[0] == compare.WITHIN
    assert compare.verdict(compare.Stats(54.32, 0.0, 3), pub(54.3, 0.0, 3), "test_acc", "paper")[0] == compare.OUTSIDE


@pytest.mark.parametrize(
    ("ours", "published", "metric", "scale", "expected"),
    [
        (compare.Stats(1, 0, 1), pub(1, 1, 3), "test_acc", "cpu", "not comparable: scale=cpu"),
        (compare.Stats(1, 0, 1), pub(1, 1, 3), "test_acc", "smoke", "not comparable: scale=smoke"),
        (compare.Stats(1, 0, 1), pub(1, 1, 3), "search_cost_s", "paper", "not comparable: hardware"),
        (compare.Stats(1, 0, 1), pub(1, None, None), "test_acc", "paper", "no published spread"),
        (None, pub(1, 1, 3), "test_acc", "paper", "not run"),
        (compare.Stats(1, 0, 1), None, "test_acc", "paper", "no published number"),
    ],
)
def test_verdicts_that_do_not_compare(ours, published, metric, scale, expected):
    assert compare.verdict(ours, published, metric, scale)[0] == expected


def test_every_runnable_table_has_every_scale_and_its_published_tables():
    for t in REPRO_TABLES.values():
        assert set(t.scales) == set(SCALES)
        assert all(s.seeds and s.cost for s in t.scales.values())
        tables = t.published_tables()  # raises for a published table that does not exist
        assert tables[0].space == "nb201"


def test_a_table_expands_into_one_multirun_per_method_with_the_user_overrides_last():
    table = repro_table("collapse_cpu")
    planned = sweeps(table, "cpu", ["out_root=/x", "hardware.threads=1"])
    assert [s.method for s in planned] == ["darts", "a2m", "beta_darts"]
    beta = planned[2]
    assert beta.overrides[:3] == ("experiment=collapse_cpu", "algo=darts", "algo/modifiers=[beta_darts]")
    assert "seed=range(0,3)" in beta.overrides and "dataset=cifar10" in beta.overrides
    assert beta.overrides.index("hardware.threads=1") < beta.overrides.index("seed=range(0,3)")
    assert [d.as_posix() for d in beta.run_dirs()] == [
        f"/x/reproduce/collapse_cpu/cpu/beta_darts/seed{s}-cifar10" for s in range(3)
    ]
    assert seed_values([0, 2]) == "0,2" and seed_values(range(5)) == "range(0,5)"
    with pytest.raises(ReproduceError, match="scale=huge"):
        sweeps(table, "huge", [])


def test_unknown_and_published_only_tables_are_named():
    with pytest.raises(ValueError, match=r"unknown table 'nb202'.*runnable: nb201_darts"):
        repro_table("nb202")
    with pytest.raises(ValueError, match=r"genas_tau.*no runnable protocol"):
        repro_table("genas_tau")


def test_lines_put_each_published_number_next_to_the_mean_of_our_runs():
    table = repro_table("nb201_darts")
    runs = [
        {"dataset": "cifar10", "benchmark": {"cifar10": {"valid": 39.77, "test": v}}, "search": {"wall_time_s": 5.0}}
        for v in (54.30, 60.30)
    ]
    lines = {(ln.method, ln.dataset, ln.metric): ln for ln in compare.lines(table, "paper", {"darts": runs})}
    test = lines[("darts", "cifar10", "test_acc")]
    assert test.published == published_table("nb201_darts").rows_for("darts", "cifar10", "test_acc")[0]
    assert (test.ours.mean, test.ours.n) == (57.30, 2) and test.ours.std == pytest.approx(
        statistics.stdev([54.3, 60.3])
    )
    assert test.delta == pytest.approx(57.30 - test.published.mean)
    assert lines[("darts", "cifar10", "valid_acc")].verdict == compare.WITHIN  # 39.77 ± 0 both sides
    assert lines[("darts_2nd", "cifar10", "test_acc")].verdict == "not run"
    assert lines[("darts", "cifar10", "search_cost_s")].verdict == "not comparable: hardware"


def test_refusals_come_before_any_work(tmp_path, nb201_csv):
    out = f"out_root={tmp_path}"
    cases = [
        (["reproduce", "nb202"], "unknown table 'nb202'"),
        (["reproduce", "nb201_darts", "scale=huge"], "scale=huge: expected one of smoke, cpu, paper"),
        (["reproduce", "nb201_darts", "scale=smoke", out], "set benchmark.nb201_table=PATH"),
        (["reproduce", "nb201_darts", "scale=smoke", out, "benchmark.nb201_table=nope.csv"], "nope.csv: no such file"),
        (["reproduce", "nb201_darts", "seeds=a"], "seeds=a: expected integers"),
        (
            ["reproduce", "nb201_darts", "scale=smoke", out, f"benchmark.nb201_table={nb201_csv}", "algo.epochz=2"],
            "algo.epochz",
        ),
    ]
    for args, message in cases:
        proc = nasflat(*args, env={"NASFLAT_NB201_TABLE": ""})
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing was run or written


def test_list_names_every_table_its_scales_costs_and_sources():
    text = nasflat("reproduce", "--list", check=True).stdout
    for name, t in REPRO_TABLES.items():
        assert f"{name}: " in text
        for scale, s in t.scales.items():
            assert f"scale={scale}: {len(s.seeds)} seed(s); {s.cost}" in text
    assert "Dong & Yang, NAS-Bench-201, ICLR 2020, Table 5" in text
    assert "genas_tau: " in text.split("published numbers only")[1]


def test_smoke_runs_the_table_prints_published_next_to_ours_and_resumes(tmp_path, nb201_csv):
    args = ("reproduce", "nb201_darts", "scale=smoke", f"out_root={tmp_path}", "logger=none")
    proc = nasflat(*args, f"benchmark.nb201_table={nb201_csv}", check=True, timeout=600)
    out = tmp_path / "reproduce" / "nb201_darts" / "smoke"
    report = json.loads((out / "report.json").read_text())
    assert report["missing_runs"] == []
    for method in ("darts", "darts_2nd", "gdas"):
        run = json.loads((out / method / "seed0-digits" / "results.json").read_text())
        line = next(ln for ln in report["lines"] if (ln["method"], ln["dataset"], ln["metric"]) == (
            method, "cifar100", "test_acc"))  # fmt: skip
        assert line["ours"] == {"mean": run["benchmark"]["cifar100"]["test"], "std": 0.0, "n": 1}
        assert line["verdict"] == "not comparable: scale=smoke"
        assert line["delta"] == pytest.approx(run["benchmark"]["cifar100"]["test"] - line["published"]["mean"])
    assert "| darts | cifar10 | test_acc | 54.30 ± 0.00 (n=3) |" in proc.stdout  # the published column
    assert (out / "derived_arch_by_epoch.png").read_bytes().startswith(b"\x89PNG")
    runs = (out / "report.md").read_text().split("## Runs")[1]
    darts = json.loads((out / "darts" / "seed0-digits" / "results.json").read_text())
    assert f"| darts | 0 | digits | `{darts['arch'].replace('|', chr(92) + '|')}` | " in runs
    first = (out / "darts" / "seed0-digits" / "results.json").stat().st_mtime_ns
    again = nasflat(*args, f"benchmark.nb201_table={nb201_csv}", check=True, timeout=600)
    assert (out / "darts" / "seed0-digits" / "results.json").stat().st_mtime_ns == first  # finished: not rerun
    assert again.stdout.split("# nasflat reproduce")[1] == proc.stdout.split("# nasflat reproduce")[1]


def test_collapse_cpu_keeps_the_protocols_alpha_step_count_and_only_shrinks_the_network_and_images():
    from hydra import compose, initialize_config_module

    with initialize_config_module("nasflat.conf", version_base="1.3"):
        small = compose("search", overrides=["experiment=collapse_cpu"])
        full = compose("search", overrides=["experiment=a2m_nb201"])

    def alpha_steps(cfg) -> int:  # one α step per weight batch of the train half
        half = 50_000 * cfg.dataset.split_portion
        return cfg.algo.epochs * math.ceil(half / cfg.algo.batch_size)

    assert alpha_steps(small) == alpha_steps(full) == 50 * 391
    assert (small.search_net.C, small.search_net.N, small.dataset.resolution) == (8, 1, 16)
    assert (full.search_net.C, full.search_net.N, full.dataset.resolution) == (16, 5, None)
    for key in ("split_method", "split_portion"):
        assert small.dataset[key] == full.dataset[key]
    assert small.algo.optim == full.algo.optim and small.algo.arch_lr == full.algo.arch_lr


def test_naswot_table_is_best_of_n_random_search_under_the_naswot_score():
    table = repro_table("naswot_nb201")
    n10, n100 = sweeps(table, "cpu", ["out_root=/x"])
    assert (n10.method, n100.method) == ("naswot_n10", "naswot")
    for sw, n in ((n10, 10), (n100, 100)):
        assert sw.overrides[:6] == ("space=nb201", "algo=rs", "evaluator=naswot", "retrain=none", *(
            f"algo.budget={n}", f"algo.chunk={n}"))  # fmt: skip
        assert "seed=range(0,10)" in sw.overrides and "dataset=cifar10" in sw.overrides
    smoke = sweeps(table, "smoke", [])[1].overrides
    assert smoke.index("algo.budget=100") < smoke.index("algo.budget=3")  # the scale's budget wins
    assert len(table.scales["paper"].seeds) == 500 == table.published_tables()[0].protocol["seeds"]


@pytest.mark.slow
def test_naswot_smoke_reports_the_mean_benchmark_accuracy_of_the_picked_architectures(tmp_path, nb201_csv):
    args = ("reproduce", "naswot_nb201", "scale=smoke", f"out_root={tmp_path}", "logger=none")
    nasflat(*args, f"benchmark.nb201_table={nb201_csv}", check=True, timeout=600)
    out = tmp_path / "reproduce" / "naswot_nb201" / "smoke"
    report = json.loads((out / "report.json").read_text())
    runs = [json.loads((out / "naswot" / f"seed{s}-digits" / "results.json").read_text()) for s in (0, 1)]
    assert all(r["search"]["candidates"] == 3 and r["search"]["evaluator"]["name"] == "naswot" for r in runs)
    test = [r["benchmark"]["cifar10"]["test"] for r in runs]
    line = next(ln for ln in report["lines"] if (ln["method"], ln["dataset"], ln["metric"]) == (
        "naswot", "cifar10", "test_acc"))  # fmt: skip
    assert line["ours"] == {"mean": pytest.approx(statistics.mean(test)), "std": pytest.approx(
        statistics.stdev(test)), "n": 2}  # fmt: skip
    assert line["published"]["mean"] == 92.81 and line["verdict"] == "not comparable: scale=smoke"
