"""The resumable unit of work: a phase runs numbered steps (epochs or candidate batches), checkpointing each.

Supernet training, every search algorithm and retraining are phases. The driver owns checkpoint/resume, RNG
restore, NaN handling and logging, so algorithms only implement ``run_step`` and their own state.
"""

from __future__ import annotations

import math
import time
from typing import Any, Protocol, runtime_checkable

import torch

from nasflat.checkpoint import CheckpointStore, rng_state, set_rng_state
from nasflat.tracking import Tracker


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN/inf; the run stops and keeps its last good checkpoint."""


def check_finite(value: float | torch.Tensor, where: str) -> None:
    v = float(value)
    if not math.isfinite(v):
        raise NonFiniteLossError(
            f"loss became {v} during {where}. The run stopped; the last good checkpoint is kept, so rerunning the "
            "same command resumes from it. Typical fixes: lower the learning rate, enable gradient clipping, "
            "disable bf16 (hardware.bf16=false), or check the input data."
        )


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM inside a phase: says where, and that the same command resumes from the last checkpoint."""

    def __init__(self, phase: str, done: int, total: int, signal_name: str = "SIGINT") -> None:
        super().__init__(
            f"interrupted ({signal_name}) in phase {phase} at step {done + 1}/{total} ({done} steps checkpointed); "
            "rerun the same command to resume"
        )
        self.signal_name = signal_name


@runtime_checkable
class Phase(Protocol):
    """A resumable unit: ``run_step(i)`` for i in ``range(total_steps)``, state round-trips through tensors."""

    name: str
    total_steps: int

    def run_step(self, step: int) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def run_phase(phase: Phase, store: CheckpointStore, tracker: Tracker, *, map_location: str = "cpu") -> float:
    """Resume ``phase`` from its checkpoint if any, run the remaining steps, checkpoint after each.

    Returns the phase's total wall time in seconds, summed over every (resumed) process that worked on it.
    """
    start, elapsed = 0, 0.0
    saved = store.load(phase.name, map_location=map_location)
    if saved is not None:
        phase.load_state_dict(saved["phase"])
        set_rng_state(saved["rng"])
        start, elapsed = int(saved["step"]), float(saved["elapsed"])
        if start > 0:
            store.resumed[phase.name] = start
        if start < phase.total_steps:
            tracker.console.log(f"[yellow]resuming {phase.name} at step {start + 1}/{phase.total_steps}")
    done = start
    try:
        for step in range(start, phase.total_steps):
            t0 = time.perf_counter()
            metrics = phase.run_step(step)
            elapsed += time.perf_counter() - t0
            state = {"step": step + 1, "elapsed": elapsed, "phase": phase.state_dict(), "rng": rng_state()}
            store.save(phase.name, state)
            done = step + 1
            tracker.log(phase.name, step, metrics)
    except KeyboardInterrupt as e:
        raise Interrupted(phase.name, done, phase.total_steps, getattr(e, "signal_name", "SIGINT")) from None
    return elapsed
