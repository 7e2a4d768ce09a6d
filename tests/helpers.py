"""Shared by the CLI-level tests: run `nasflat` as a subprocess (W&B disabled)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def nasflat(
    *args: str, cwd: Path | None = None, check: bool = False, env: dict | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "WANDB_MODE": "disabled", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "nasflat.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"nasflat {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def wait_for(path_glob: str, root: Path, proc: subprocess.Popen, timeout: float = 240) -> Path:
    """The first file matching ``path_glob`` under ``root`` once it exists (fails if ``proc`` ends first)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        hits = list(root.glob(path_glob))
        if hits:
            return hits[0]
        if proc.poll() is not None:
            raise AssertionError("process ended before the checkpoint appeared")
        time.sleep(0.01)
    raise AssertionError("timed out waiting for a checkpoint")
