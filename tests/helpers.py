"""Shared by the CLI-level tests: run `nasflat` as a subprocess (W&B disabled)."""

from __future__ import annotations

import os
import subprocess
import sys
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
