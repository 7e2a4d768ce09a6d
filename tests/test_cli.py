"""End-to-end CLI behaviour on CPU with tiny settings: pipeline outputs, readable errors, resume."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import pytest

from helpers import DEMO_TINY, nasflat, results_of, start_nasflat, wait_for

TINY = DEMO_TINY


def test_help_lists_commands():
    out = nasflat("--help", check=True).stdout
    for cmd in ("search", "retrain", "info", "data check", "bench import"):
        assert cmd in out


def test_unknown_command_and_unknown_option_are_readable(tmp_path):
    bad = nasflat("serch")
    assert bad.returncode != 0 and "unknown command 'serch'" in bad.stderr
    bad = nasflat("search", "algo.budgett=3", f"out_root={tmp_path}")
    assert bad.returncode != 0
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "config error: algo.budgett=3: RandomSearch does not take `budgett` (did you mean `budget`?)" in bad.stderr
    assert not any(tmp_path.iterdir())  # refused while composing: no run directory
    bad = nasflat("search", "algo=nonexistent", f"out_root={tmp_path}")
    assert bad.returncode != 0 and "nonexistent" in bad.stderr and "Available options" in bad.stderr


def test_malformed_arch_names_the_token():
    bad = nasflat("info", "space=nb201", "arch=|nor_conv_3x3~0|+|conv_9x9~0|none~1|+|none~0|none~1|none~2|")
    assert bad.returncode == 1
    assert "conv_9x9" in bad.stderr and "nor_conv_3x3" in bad.stderr and "Traceback" not in bad.stderr


def test_info_reports_table_params(nb201_csv):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    proc = nasflat("info", "space=nb201", f"arch={arch}", f"benchmark.nb201_table={nb201_csv}", check=True)
    info = json.loads(proc.stdout)
    with open(nb201_csv) as f:
        row = next(r for r in csv.DictReader(f) if r["arch_str"] == arch)
    assert info["cost"]["cifar10"]["params"] == int(row["params_cifar10"])
    assert info["cost"]["imagenet16_120"]["params"] == int(row["params_imagenet16"])
    assert info["benchmark"]["cifar10"]["test"] == pytest.approx(float(row["cifar10_test_acc"]))
    assert info["cost"]["cifar10"]["macs"] > info["cost"]["imagenet16_120"]["macs"] > 0


def test_data_check_names_missing_files(tmp_path):
    proc = nasflat("data", "check", "dataset=cifar10", f"dataset.root={tmp_path}")
    assert proc.returncode == 1
    assert str(tmp_path) in proc.stdout and "data_batch_1" in proc.stdout and "missing" in proc.stdout.lower()


def test_search_on_missing_dataset_is_readable(tmp_path):
    proc = nasflat("search", "dataset=cifar10", f"dataset.root={tmp_path}", "debug=tiny", f"out_root={tmp_path}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert str(tmp_path) in proc.stderr and "cifar-10-batches-py" in proc.stderr


def test_search_pipeline_writes_results(tmp_path, nb201_csv):
    nasflat("search", *TINY, f"out_root={tmp_path}", f"benchmark.nb201_table={nb201_csv}", check=True)
    r = results_of(tmp_path)
    assert r["space"] == "nb201" and r["algo"] == "rs" and r["dataset"] == "digits" and r["seed"] == 0
    assert r["search"]["candidates"] == 4 and 1 <= r["search"]["evaluations"] <= 4
    assert r["retrain"]["epochs"] == 2 and 0.0 <= r["retrain"]["test_acc"] <= 1.0
    assert set(r["benchmark"]) == {"cifar10", "cifar100", "imagenet16_120"}
    assert r["versions"]["torch"] and r["config"]["seed"] == 0
    run_dir = Path(r["run_dir"])
    assert (run_dir / "arch.txt").read_text().strip() == r["arch"]
    assert (run_dir / "checkpoints" / "supernet.pt").exists() and (run_dir / "checkpoints" / "retrain.pt").exists()
    # rerunning the same command finds the finished run instead of recomputing it
    again = nasflat("search", *TINY, f"out_root={tmp_path}", f"benchmark.nb201_table={nb201_csv}", check=True)
    assert "already complete" in again.stderr


def test_corrupt_checkpoint_then_restart(tmp_path):
    args = [*TINY, "retrain=none", f"out_root={tmp_path}"]
    nasflat("search", *args, check=True)
    (ckpt,) = list(tmp_path.glob("*/*/checkpoints/supernet.pt"))
    (ckpt.parent.parent / "results.json").unlink()
    ckpt.write_bytes(b"\x00garbage")
    bad = nasflat("search", *args)
    assert bad.returncode == 1 and "corrupt" in bad.stderr and "restart=true" in bad.stderr
    nasflat("search", *args, "restart=true", check=True)
    assert (ckpt.parent.parent / "checkpoints.old-0" / "supernet.pt").exists()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    proc = nasflat("search", *TINY, "retrain.optim.lr=1e30", f"out_root={tmp_path}")
    assert proc.returncode == 1 and "loss became" in proc.stderr and "Traceback" not in proc.stderr
    (ckpt_dir,) = list(tmp_path.glob("*/*/checkpoints"))
    assert (ckpt_dir / "supernet.pt").exists() and (ckpt_dir / "search.pt").exists()
    assert not (ckpt_dir / "retrain.pt").exists()


def test_sigkill_mid_search_then_resume_gives_identical_results(tmp_path):
    args = [*TINY, "supernet.epochs=8", "dataset.max_train=512"]
    ref_root, kill_root = tmp_path / "ref", tmp_path / "killed"
    nasflat("search", *args, f"out_root={ref_root}", check=True)

    proc = start_nasflat("search", *args, f"out_root={kill_root}")
    ckpt = wait_for("*/*/checkpoints/supernet.pt", kill_root, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list(kill_root.glob("*/*/results.json")), "the run finished before it could be killed"
    import torch

    step = torch.load(ckpt, weights_only=True)["step"]
    assert 1 <= step < 8
    resumed = nasflat("search", *args, f"out_root={kill_root}", check=True)
    assert "resuming supernet" in resumed.stderr
    a, b = results_of(ref_root), results_of(kill_root)
    assert a["resumed"] == {} and b["resumed"] == {"supernet": step}
    assert a["arch"] == b["arch"]
    assert a["search"]["score"] == b["search"]["score"]
    assert a["retrain"]["train_loss"] == b["retrain"]["train_loss"]
    assert a["retrain"]["test_acc"] == b["retrain"]["test_acc"]


def test_retrain_command(tmp_path):
    arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    nasflat("retrain", f"arch={arch}", "dataset=digits", "debug=tiny", f"out_root={tmp_path}", check=True)
    r = results_of(tmp_path)
    assert r["arch"] == arch and r["search"] is None and r["retrain"]["epochs"] == 2


def test_multirun_benchmark_random_search(tmp_path, nb201_csv):
    nasflat(
        "search",
        "-m",
        "experiment=nb201_rs_benchmark",
        "seed=0,1",
        f"benchmark.nb201_table={nb201_csv}",
        f"out_root={tmp_path}",
        check=True,
    )
    runs = sorted(tmp_path.glob("multirun/search/*/results.json"))
    assert len(runs) == 2
    results = [json.loads(p.read_text()) for p in runs]
    assert {r["seed"] for r in results} == {0, 1}
    for r in results:
        assert r["search"]["candidates"] == 100 and r["retrain"] is None
        # the selected architecture is the best CIFAR-10-valid among the sampled ones, so at least as good
        # as a typical architecture
        assert r["benchmark"]["cifar10"]["valid"] > 80


def test_info_darts_genotype(darts_genotypes):
    g = json.loads(darts_genotypes.read_text())["DARTS_V2"]
    from nasflat.spaces.darts.codec import from_json

    text = str(from_json(g))
    info = json.loads(nasflat("info", "space=darts", f"arch={text}", check=True).stdout)
    assert info["genotype"] == text
    assert info["cifar"]["params_M"] == pytest.approx(3.349342, abs=1e-6)  # quark0 train.py prints 3.349342MB
    assert info["imagenet"]["params_M"] == pytest.approx(4.7, abs=0.05)
    assert 500 < info["imagenet"]["macs_M"] < 600


def test_search_darts_space_end_to_end(tmp_path):
    nasflat(
        "search",
        "space=darts",
        "dataset=digits",
        "debug=tiny",
        "algo.budget=3",
        "algo.chunk=3",
        "evaluator.bn_images=32",
        "evaluator.val_images=32",
        f"out_root={tmp_path}",
        check=True,
    )
    r = results_of(tmp_path)
    assert r["space"] == "darts" and r["arch"].startswith("Genotype(normal=[")
    assert r["benchmark"] is None and r["retrain"]["epochs"] == 2
    assert r["retrain"]["protocol"]["network"]["layers"] == 3  # debug=tiny sizes from the darts space config


def test_report_aggregates_a_sweep(tmp_path, nb201_csv):
    nasflat(
        "search",
        "-m",
        "experiment=nb201_rs_benchmark",
        "seed=0,1,2",
        "algo.budget=30",
        f"benchmark.nb201_table={nb201_csv}",
        f"out_root={tmp_path}",
        check=True,
    )
    proc = nasflat("report", str(tmp_path), check=True)
    results = [json.loads(p.read_text()) for p in tmp_path.glob("multirun/search/*/results.json")]
    tests = [r["benchmark"]["cifar10"]["test"] for r in results]
    mean = sum(tests) / 3
    std = (sum((t - mean) ** 2 for t in tests) / 2) ** 0.5
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| nb201 | rs |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4] == "3" and cells[6] == f"{mean:.2f}±{std:.2f}"
    assert (tmp_path / "report.md").read_text().startswith("| space |")
    assert (tmp_path / "report.csv").exists()


def test_make_demo_command_composes():
    """The Makefile's demo line is a valid command (composed, not run: the demo itself takes about a minute)."""
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    (line,) = [ln for ln in makefile.splitlines() if "nasflat search" in ln]
    args = line.split("nasflat search", 1)[1].split()
    cfg = nasflat("search", *args, "--cfg", "job", check=True).stdout
    assert "name: digits" in cfg and "budget: 20" in cfg


def test_incompatible_differentiable_parts_are_refused_before_work(tmp_path):
    """GDAS's sampling with second-order DARTS: one config-error line with the reason, exit 2, no traceback."""
    proc = nasflat("search", "algo=darts_2nd", "algo/relaxation=gumbel", "dataset=digits", f"out_root={tmp_path}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    first, hint = proc.stderr.strip().splitlines()
    assert first.startswith("config error: algo.arch_grad=Unrolled: second-order DARTS differences losses at w ± Rv")
    assert hint.startswith("hint: ") and not list(tmp_path.glob("**/results.json"))


def test_search_with_composed_differentiable_parts_end_to_end(tmp_path):
    """DARTS + β-DARTS + SDARTS-RS, A²M's selection: the parts are recorded in results.json and the report reads it."""
    nasflat(
        "search",
        "algo=darts",
        "algo/modifiers=[beta_darts,sdarts_rs]",
        "algo/selection=a2m_early_stop",
        "algo.selection.patience=1",
        "algo.track_hessian=false",
        "space=nb201",
        "dataset=digits",
        "debug=tiny",
        "dataset.max_train=64",
        "algo.epochs=2",
        "algo.batch_size=32",
        "retrain=none",
        "logger=none",
        f"out_root={tmp_path}",
        check=True,
    )
    s = results_of(tmp_path)["search"]
    assert s["modifiers"] == ["beta_darts", "sdarts_rs"] and s["selection"] == "a2m_early_stop"
    assert s["relaxation"] == {"name": "softmax"} and s["objective"] == {"name": "bilevel"}
    assert s["arch_grad"] == {"name": "first_order"} and s["epochs_run"] == 2 and len(s["history"]) == 2
    assert results_of(tmp_path)["arch"] == s["a2m_early_stop_arch"]
    metrics = [json.loads(x) for x in next(tmp_path.glob("**/metrics.jsonl")).read_text().splitlines()]
    epochs = [r for r in metrics if r.get("phase") == "search"]
    assert [r["beta_darts_lambda"] for r in epochs] == [0.0, 0.5]
    assert [r["sdarts_epsilon"] for r in epochs] == pytest.approx([0.03, 0.03 + 0.27 / 2])
    report = nasflat("report", str(tmp_path), check=True).stdout
    assert "| nb201 | darts+beta_darts+sdarts_rs |" in report
