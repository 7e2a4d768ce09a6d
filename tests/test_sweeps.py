"""Sweeps through Hydra's submitit launcher (local executor: the SLURM code path without a cluster) and the report."""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from pathlib import Path

import pytest

from helpers import nasflat, results_of, start_nasflat, wait_for

SWEEP = [
    "-m",
    "hydra/launcher=local",
    "algo=rs,rea",
    "seed=0,1,2",
    "experiment=demo",
    "debug=tiny",
    "algo.budget=12",  # REA: 10 random members, then evolution
    "algo.chunk=4",
    "evaluator.bn_images=64",
    "evaluator.val_images=64",
    "evaluator.batch_size=32",
    "logger=none",
]


@pytest.fixture(autouse=True)
def _submitit():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install hydra-submitit-launcher")


def _rows(stdout: str) -> dict[str, dict[str, str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in stdout.splitlines() if line.startswith("| ")]
    header = rows[0]
    return {r[1]: dict(zip(header, r)) for r in rows[1:]}  # the |---| line does not start with "| "


@pytest.mark.slow  # about 30 s: run by `make test-all`
def test_submitit_local_sweep_of_3_seeds_x_2_algorithms_then_report(tmp_path):
    nasflat("search", *SWEEP, f"out_root={tmp_path}", check=True, timeout=600)
    sweep = tmp_path / "multirun" / "search"
    assert (sweep / ".submitit").is_dir()  # the jobs went through submitit
    runs = sorted(sweep.glob("*/results.json"))
    results = [json.loads(p.read_text()) for p in runs]
    assert sorted((r["algo"], r["seed"]) for r in results) == [(a, s) for a in ("rea", "rs") for s in (0, 1, 2)]
    assert all(r["resumed"] == {} and r["retrain"]["epochs"] == 2 for r in results)

    proc = nasflat("report", str(sweep), "--out", str(tmp_path / "report"), check=True)
    rows = _rows(proc.stdout)
    assert set(rows) == {"rs", "rea"}
    for algo, row in rows.items():
        accs = [100 * r["retrain"]["test_acc"] for r in results if r["algo"] == algo]
        assert row["n"] == "3"
        assert row["retrain test"] == f"{statistics.fmean(accs):.2f}±{statistics.stdev(accs):.2f}"
    png = (tmp_path / "report" / "accuracy_vs_cost.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert not (tmp_path / "report" / "derived_arch_by_epoch.png").exists()  # no differentiable runs here


def test_killed_submitit_job_resumes_when_relaunched_with_the_same_overrides(tmp_path):
    import torch

    args = [*SWEEP[:2], "algo=rs", "seed=0", *SWEEP[4:], "supernet.epochs=8", "dataset.max_train=512"]
    # the launcher and its submitit job share a process group: kill both at once
    proc = start_nasflat("search", *args, f"out_root={tmp_path}", new_session=True)
    ckpt = wait_for("multirun/search/*/checkpoints/supernet.pt", tmp_path, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    assert not list(tmp_path.glob("multirun/search/*/results.json")), "the job finished before it was killed"
    done = torch.load(ckpt, weights_only=True)["step"]
    assert 1 <= done < 8

    nasflat("search", *args, f"out_root={tmp_path}", check=True, timeout=600)
    result = results_of(tmp_path)
    assert Path(result["run_dir"]) == ckpt.parent.parent  # the same run directory: derived from the overrides
    assert result["resumed"] == {"supernet": done}


def test_report_plots_the_derived_architecture_per_epoch(tmp_path, nb201_csv):
    from nasflat import plots
    from nasflat.report import find_results, group_key

    nasflat(
        "search",
        "-m",
        "algo=darts,a2m",
        "seed=0,1",
        "space=nb201",
        "dataset=digits",
        "debug=tiny",
        "++algo.epochs=3",  # ++: the key exists in every swept algorithm's config
        "++algo.batch_size=32",
        "retrain=none",
        "logger=none",
        f"benchmark.nb201_table={nb201_csv}",
        f"out_root={tmp_path}",
        check=True,
        timeout=600,
    )
    results = find_results([tmp_path])
    labels = plots.group_labels(results, group_key)
    assert sorted(labels) == ["a2m", "a2m", "darts", "darts"]
    curves = plots.epoch_curves(results, labels)
    assert set(curves) == {"cifar10", "cifar100", "imagenet16_120", "param_free_ops"}
    for r, label in zip(results, labels):
        if r["algo"] == "darts":  # plain DARTS returns the last epoch's derived architecture
            (curve,) = plots.epoch_curves([r], [label])["cifar10"][label]
            assert curve[-1] == r["benchmark"]["cifar10"]["test"]
            (free,) = plots.epoch_curves([r], [label])["param_free_ops"][label]
            assert free[-1] == r["arch_summary"]["param_free_ops"]
    assert all(len(c) == 3 for by_label in curves.values() for runs in by_label.values() for c in runs)
    metric = plots.METRICS[0]
    points = plots.cost_points(results, labels, metric, gpu_hours=False)
    expected = sorted((r["search"]["wall_time_s"] / 3600, r["benchmark"]["cifar10"]["test"]) for r in results)
    assert sorted(p for pts in points.values() for p in pts) == expected

    out = tmp_path / "report"
    nasflat("report", str(tmp_path), "--out", str(out), check=True)
    for name in ("accuracy_vs_cost.png", "derived_arch_by_epoch.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")


def test_sweep_jobs_share_a_wandb_group_per_space_dataset_algo():
    from nasflat.cli import sweep_group

    choices = {"space": "nb201", "dataset": "cifar100", "algo": "a2m", "evaluator": "supernet", "experiment": None}
    assert sweep_group(choices) == "nb201-cifar100-a2m"
    assert sweep_group({**choices, "seed": 3}) == sweep_group(choices)  # seeds of one cell: one group


def test_objective_value_reads_a_dotted_results_key():
    from nasflat.cli import objective_value

    results = {"benchmark": {"cifar10": {"valid": 91.5}}, "search": {"score": 3, "ok": True}}
    assert objective_value(results, "benchmark.cifar10.valid") == 91.5
    assert objective_value(results, "search.score") == 3.0
    with pytest.raises(ValueError, match=r"benchmark.cifar10 has no key 'test' \(it has: valid\)"):
        objective_value(results, "benchmark.cifar10.test")
    with pytest.raises(ValueError, match="not a number"):
        objective_value(results, "search.ok")


@pytest.mark.slow  # about 30 s: run by `make test-all`
def test_optuna_sweep_over_a2m_rho_returns_the_objective(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='pip install "nasflat[optuna]"')
    from omegaconf import OmegaConf

    args = [
        "-m",
        "hydra/sweeper=a2m_rho",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.direction=minimize",
        "algo=a2m",
        "space=nb201",
        "dataset=digits",
        "debug=tiny",
        "algo.epochs=2",
        "retrain=none",
        "logger=none",
        f"out_root={tmp_path}",
    ]
    missing = nasflat("search", *args)
    assert missing.returncode != 0 and "set objective=" in missing.stderr
    # A²M's selection criterion (held-out loss of the early-stopped epoch); with a table: benchmark.cifar10.valid
    nasflat("search", *args, "objective=search.a2m_best_valid_loss", check=True, timeout=600)
    sweep = tmp_path / "multirun" / "search"
    trials = [json.loads(p.read_text()) for p in sweep.glob("*/results.json")]
    rhos = {t["config"]["algo"]["arch_grad"]["rho"] for t in trials}
    assert len(trials) == 3 and len(rhos) == 3 and all(1e-3 <= r <= 1 for r in rhos)
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    top = min(trials, key=lambda t: t["search"]["a2m_best_valid_loss"])
    assert best.best_value == top["search"]["a2m_best_valid_loss"]
    assert best.best_params["algo.arch_grad.rho"] == top["config"]["algo"]["arch_grad"]["rho"]
