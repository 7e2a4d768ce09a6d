"""Per-phase checkpoints: atomic writes, ``weights_only`` loads, clear errors, never a silent fresh start.

A run directory holds ``checkpoints/<phase>.pt``. Each file carries the phase's own state (weights, algorithm
state, optimizers, schedulers, generators), the global RNG states, progress and a fingerprint of the resolved
config, so rerunning the same command resumes exactly and a different config is refused instead of mixed in.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasflat import distributed
from nasflat.rundir import replace_atomic


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used; the message says why and how to start over."""


def rng_state() -> dict[str, Any]:
    """torch's global RNG states (module init, dropout, drop-path); library sampling uses explicit generators."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def generator_state(g: torch.Generator) -> torch.Tensor:
    return g.get_state()


def numpy_rng_state(rng: np.random.Generator) -> str:
    """numpy Generator state as JSON (its ints exceed 64 bits, so not a tensor)."""
    return json.dumps(rng.bit_generator.state)


def set_numpy_rng_state(rng: np.random.Generator, state: str) -> None:
    rng.bit_generator.state = json.loads(state)


# what a restart moves aside with the checkpoints: everything that describes the old run's results
RUN_FILES = ("results.json", "run.json", "search.json", "arch.txt", "metrics.jsonl", "final_model.pt")


class CheckpointStore:
    """Reads and writes ``<run_dir>/checkpoints/<phase>.pt``."""

    def __init__(self, run_dir: str | Path, fingerprint: str) -> None:
        self.dir = Path(run_dir) / "checkpoints"
        self.fingerprint = fingerprint
        self.resumed: dict[str, int] = {}  # phase -> steps already done when this process picked it up

    def path(self, phase: str) -> Path:
        return self.dir / f"{phase}.pt"

    def exists(self, phase: str) -> bool:
        return self.path(phase).exists()

    def save(self, phase: str, payload: dict[str, Any]) -> Path:
        """Write atomically (temp file + rename) so a kill mid-write leaves the previous checkpoint intact.

        Only rank 0 writes; every rank holds the same state, and all ranks read the file on resume.
        """
        path = self.path(phase)
        if not distributed.is_main():
            return path
        self.dir.mkdir(parents=True, exist_ok=True)
        payload = {"fingerprint": self.fingerprint, "saved_at": time.time(), **payload}
        replace_atomic(path, lambda tmp: torch.save(payload, tmp))
        return path

    def load(self, phase: str, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        path = self.path(phase)
        if not path.exists():
            return None
        try:
            payload = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as e:  # any unpickling/zip error means the file is unusable
            reason = (str(e).strip().splitlines() or [""])[0][:160]  # torch's advice to drop weights_only is not ours
            raise CheckpointError(
                f"checkpoint {path} is corrupt or unreadable ({type(e).__name__}: {reason}). Nothing was overwritten. "
                "To discard this run's progress and start over, rerun the same command with `restart=true` "
                "(the old checkpoints are moved aside, not deleted)."
            ) from e
        if not isinstance(payload, dict) or "fingerprint" not in payload:
            raise CheckpointError(f"checkpoint {path} is not a nasflat checkpoint; rerun with `restart=true`")
        if payload["fingerprint"] != self.fingerprint:
            raise CheckpointError(
                f"checkpoint {path} was written by a run with a different configuration "
                f"(fingerprint {payload['fingerprint']} != {self.fingerprint}). Resuming it would mix two "
                "experiments: use another run directory (out_root=DIR or hydra.run.dir=DIR), or `restart=true` to "
                "start over (the old checkpoints are moved aside)."
            )
        return payload

    def archive(self, run_files: tuple[str, ...] = RUN_FILES) -> Path | None:
        """Move the checkpoints and the run's result files aside (``checkpoints.old-<n>``) for an explicit restart."""
        run_dir = self.dir.parent
        present = [run_dir / f for f in run_files if (run_dir / f).exists()]
        if not self.dir.exists() and not present:
            return None
        n = 0
        while (dest := self.dir.with_name(f"checkpoints.old-{n}")).exists():
            n += 1
        if self.dir.exists():
            shutil.move(str(self.dir), dest)
        dest.mkdir(exist_ok=True)
        for f in present:
            shutil.move(str(f), dest / f.name)
        return dest
