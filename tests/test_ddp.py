"""torch.distributed on CPU (gloo, 2 processes under torchrun): same results as one process at the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TINY = [
    "experiment=demo",
    "debug=tiny",
    "algo.budget=4",
    "algo.chunk=2",
    "evaluator.bn_images=64",
    "evaluator.val_images=64",
    "evaluator.batch_size=32",
    "logger=none",
]


def run(out_root: Path, *args: str, nproc: int = 1) -> None:
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "nasflat.cli", "search", *args, f"out_root={out_root}"]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "nasflat.cli",
            "search",
            "hardware=ddp",
            "hardware.device=cpu",
            "hardware.bf16=false",
            "hardware.channels_last=false",
            *args,
            f"out_root={out_root}",
        ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def checkpoint(root: Path, phase: str) -> dict:
    (path,) = list(root.glob(f"**/checkpoints/{phase}.pt"))
    return torch.load(path, weights_only=True)["phase"]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    run(single, *TINY)
    run(ddp, *TINY, nproc=2)
    (rs,) = list(single.glob("**/results.json"))
    (rd,) = list(ddp.glob("**/results.json"))  # one run directory, one results.json
    a, b = json.loads(rs.read_text()), json.loads(rd.read_text())
    assert b["hardware"]["world_size"] == 2 and a["hardware"]["world_size"] == 1
    for phase in ("supernet", "retrain"):
        wa, wb = checkpoint(single, phase)["model"], checkpoint(ddp, phase)["model"]
        for k in wa:
            torch.testing.assert_close(wa[k].float(), wb[k].float(), rtol=1e-4, atol=1e-5, msg=f"{phase}: {k}")
    assert a["arch"] == b["arch"]
    assert a["retrain"]["train_loss"] == pytest.approx(b["retrain"]["train_loss"], rel=1e-4)
