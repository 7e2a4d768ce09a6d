"""Shared by the CLI-level tests: run `nasflat` as a subprocess (W&B disabled), find its outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# the offline demo shrunk to seconds: tiny supernet and networks, 4 candidates scored on 64 images
DEMO_TINY = [
    "experiment=demo",
    "debug=tiny",
    "algo.budget=4",
    "algo.chunk=2",
    "evaluator.bn_images=64",
    "evaluator.val_images=64",
    "evaluator.batch_size=32",
]


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


def start_nasflat(*args: str, new_session: bool = False) -> subprocess.Popen:
    """``nasflat`` in the background (to be killed); ``new_session``: its own process group, children included."""
    return subprocess.Popen(
        [sys.executable, "-m", "nasflat.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "WANDB_MODE": "disabled"},
        start_new_session=new_session,
    )


def results_of(root: Path) -> dict:
    """The results.json of the one run under ``root`` (fails if there are none or several)."""
    (path,) = list(root.glob("**/results.json"))
    return json.loads(path.read_text())


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


def tiny_relaxed_supernet(space_name: str, relax: Any) -> tuple[Any, Any]:
    """A float64, eval-mode tiny supernet of ``space_name`` built with the relaxation's options (bound to the space)."""
    from nasflat.spaces.darts import DartsSpace
    from nasflat.spaces.nb201 import NB201Space

    space = NB201Space() if space_name == "nb201" else DartsSpace()
    size = {"C": 4, "N": 1} if space_name == "nb201" else {"C": 4, "layers": 3}
    net = space.supernet(10, **size, **relax.bind(space).supernet_options())
    return net.double().eval(), space
