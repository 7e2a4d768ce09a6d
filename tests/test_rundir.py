"""Run identity, exclusive run directories, atomic writes, interrupts: a run directory never lies."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers import DEMO_TINY, nasflat, results_of, wait_for
from nasflat import rundir
from nasflat.checkpoint import CheckpointStore

ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
RETRAIN = ["retrain", f"arch={ARCH}", "dataset=digits", "debug=tiny", "logger=none"]


def _identity(seed: int = 0, files: dict | None = None) -> rundir.RunIdentity:
    return rundir.RunIdentity({"seed": seed, "dataset": {"root": "D1", "name": "cifar10"}}, files or {})


def test_claim_records_identity_and_refuses_another_config(tmp_path):
    rundir.claim(tmp_path, _identity(0))
    stored = json.loads((tmp_path / rundir.IDENTITY).read_text())
    assert stored["fingerprint"] == _identity(0).fingerprint and stored["config"]["seed"] == 0
    rundir.claim(tmp_path, _identity(0))  # the same config: fine (resume or report)
    with pytest.raises(rundir.RunDirError) as e:
        rundir.claim(tmp_path, _identity(1))
    assert "config.seed: 0 -> 1" in str(e.value) and "restart=true" in str(e.value) and "out_root=" in str(e.value)


def test_claim_compares_data_file_identity(tmp_path):
    data = tmp_path / "table.csv"
    data.write_text("a\n")
    rundir.claim(tmp_path / "run", _identity(files={"nb201_table": rundir.file_identity(data)}))
    time.sleep(0.01)
    data.write_text("a,b\n")  # same path, new content
    with pytest.raises(rundir.RunDirError, match=r"file nb201_table .* changed since the run started: size 2 -> 4"):
        rundir.claim(tmp_path / "run", _identity(files={"nb201_table": rundir.file_identity(data)}))


def test_finished_run_without_identity_file_is_checked_by_its_results(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"config": _identity(0).config}))
    rundir.claim(tmp_path, _identity(0))
    (tmp_path / rundir.IDENTITY).unlink()
    with pytest.raises(rundir.RunDirError, match=r"config\.seed: 0 -> 1"):
        rundir.claim(tmp_path, _identity(1))


def _hold_lock(run_dir: Path) -> subprocess.Popen:
    """Another process that holds ``run_dir``'s lock until killed."""
    code = f"from nasflat import rundir; import time\nwith rundir.exclusive({str(run_dir)!r}):\n"
    holder = subprocess.Popen(
        [sys.executable, "-c", code + "    print('locked', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_lock_is_exclusive_and_dies_with_its_holder(tmp_path):
    holder = _hold_lock(tmp_path)
    with (
        pytest.raises(rundir.RunDirBusyError, match=rf"in use by pid {holder.pid} on host "),
        rundir.exclusive(tmp_path),
    ):
        pass
    holder.kill()  # SIGKILL: no cleanup runs, yet the kernel releases the lock
    holder.wait()
    with rundir.exclusive(tmp_path):
        assert json.loads((tmp_path / rundir.LOCK).read_text())["pid"] == os.getpid()


def test_full_disk_names_the_path_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path, "fp")
    store.save("search", {"step": 1})

    def full(obj, f, *a, **k):
        Path(f).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(rundir.DiskFullError, match=r"could not write .*search\.pt: no space left \(.* MiB free"):
        store.save("search", {"step": 2})
    monkeypatch.undo()
    assert store.load("search")["step"] == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_stale_temp_files_of_killed_processes_are_removed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    stale = [tmp_path / "checkpoints" / "supernet.pt.4242.tmp", tmp_path / "results.json.4242.tmp"]
    for p in stale:
        p.write_bytes(b"x")
    assert sorted(rundir.remove_stale_temp(tmp_path)) == sorted(stale)
    assert not any(p.exists() for p in stale)


def test_cli_refuses_another_seed_in_the_same_run_dir(tmp_path):
    run = tmp_path / "run"
    nasflat(*RETRAIN, f"hydra.run.dir={run}", "seed=0", check=True)
    before = (run / "results.json").read_text()
    bad = nasflat(*RETRAIN, f"hydra.run.dir={run}", "seed=1")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "config.seed: 0 -> 1" in bad.stderr and "restart=true" in bad.stderr
    assert (run / "results.json").read_text() == before  # untouched, and .hydra still describes seed 0
    assert "seed: 0" in (run / ".hydra" / "config.yaml").read_text()
    again = nasflat(*RETRAIN, f"hydra.run.dir={run}", "seed=1", "restart=true", check=True)
    assert "moved to" in again.stderr and json.loads((run / "results.json").read_text())["seed"] == 1
    old = run / "checkpoints.old-0"
    assert json.loads((old / "results.json").read_text())["seed"] == 0 and (old / "retrain.pt").exists()


def _popen(*args: str, log: Path | None = None) -> subprocess.Popen:
    """``nasflat`` in the background; stderr to a pipe (read with communicate) or to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "nasflat.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if log is None else log.open("w"),
        text=True,
        env={**os.environ, "WANDB_MODE": "disabled"},
    )


SLOW_SEARCH = [*DEMO_TINY, "supernet.epochs=40", "logger=none", "retrain=none"]


def test_second_process_on_a_run_dir_exits_at_once(tmp_path):
    run = tmp_path / "run"
    holder = _hold_lock(run)
    try:
        t0 = time.time()
        second = nasflat("search", *SLOW_SEARCH, f"hydra.run.dir={run}")
        assert second.returncode == 1 and time.time() - t0 < 60
        assert f"in use by pid {holder.pid} on host" in second.stderr and "Traceback" not in second.stderr
        assert not (run / "checkpoints").exists() and not (run / rundir.IDENTITY).exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_interrupt_prints_one_line_and_the_same_command_resumes(tmp_path, sig, code, name):
    proc = _popen("search", *SLOW_SEARCH, f"out_root={tmp_path}")
    ckpt = wait_for("*/*/checkpoints/supernet.pt", tmp_path, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code and "Traceback" not in err
    assert f"interrupted ({name}) in phase supernet at step" in err and "rerun the same command to resume" in err
    assert not list(tmp_path.rglob("*.tmp"))
    done = torch.load(ckpt, weights_only=True)["step"]
    resumed = nasflat("search", *SLOW_SEARCH, f"out_root={tmp_path}", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert results_of(tmp_path)["resumed"]["supernet"] == done


def _comparable(results: dict) -> dict:
    """results.json without what legitimately differs between two processes: timings, resume record, output paths."""
    drop = {"wall_time_s", "search_time_s", "supernet_time_s", "resumed", "run_dir", "out_root", "images_per_s"}

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in drop and not k.endswith("time_s")}
        return node

    return strip(results)


# every phase several steps of ~0.1 s, so a kill lands inside each phase
KILL_RUN = [
    "experiment=demo",
    "debug=tiny",
    "algo.budget=24",
    "algo.chunk=2",
    "evaluator.bn_images=256",
    "evaluator.val_images=256",
    "evaluator.batch_size=32",
    "supernet.epochs=6",
    "retrain.epochs=12",
    "dataset.max_train=1024",
    "logger=none",
]


@pytest.mark.slow
def test_kill9_in_every_phase_and_a_concurrent_twin_give_the_uninterrupted_results(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    nasflat("search", *KILL_RUN, f"out_root={ref}", check=True)
    expected = _comparable(results_of(ref))
    # two identical commands at once: the one that loses the lock exits at once, the other is killed in its run
    twins = [_popen("search", *KILL_RUN, f"out_root={killed}", log=tmp_path / f"twin{i}.err") for i in range(2)]
    t0 = time.time()
    while all(p.poll() is None for p in twins) and time.time() - t0 < 300:
        time.sleep(0.01)
    (loser,) = [p for p in twins if p.poll() is not None]
    (winner,) = [p for p in twins if p is not loser]
    assert loser.returncode == 1, (tmp_path / "twin0.err").read_text() + (tmp_path / "twin1.err").read_text()
    procs = [winner]
    for phase in ("supernet", "search", "retrain"):
        proc = procs.pop() if procs else _popen("search", *KILL_RUN, f"out_root={killed}")
        wait_for(f"*/*/checkpoints/{phase}.pt", killed, proc)
        proc.kill()
        proc.wait()
        assert not list(killed.glob("*/*/results.json")), f"the run finished before it could be killed in {phase}"
    assert any(f"in use by pid {winner.pid}" in (tmp_path / f"twin{i}.err").read_text() for i in range(2))
    nasflat("search", *KILL_RUN, f"out_root={killed}", check=True)
    got = results_of(killed)
    assert set(got["resumed"]) == {"supernet", "search", "retrain"}
    assert _comparable(got) == expected
