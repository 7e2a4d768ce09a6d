"""Selection rules: when a differentiable search stops and which architecture it returns (docs/methods.md).

- :class:`FinalEpoch`: the DARTS convention, the architecture derived after the last epoch.
- :class:`A2MEarlyStop`: A²M's rule, the lowest held-out α-split loss with ``patience`` (docs/methods.md#a2m).
- :class:`DartsES`: RobustDARTS's early stop on the α-Hessian's dominant eigenvalue (docs/methods.md#darts-es).

The harness keeps the record every rule reads (:class:`SearchRecord`: the per-epoch history, the best held-out
epoch with its start-of-epoch architecture, the DARTS-ES epoch); a rule answers ``should_stop`` after each epoch and
``choose`` at the end. ``check`` refuses what the run does not measure (no held-out loss, no tracking).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nasflat.spaces.base import Arch


class SearchRecord(Protocol):
    """What a selection rule reads from the search (the harness implements it)."""

    history: list[dict[str, Any]]
    best_epoch: int  # lowest held-out loss so far (-1: none)
    best_arch: Arch  # the architecture at the start of that epoch
    es_epoch: int | None  # DARTS-ES's returned epoch once it fired

    def derive(self) -> Arch: ...

    def parse(self, text: str) -> Arch: ...


class Selection:
    """Final-epoch behaviour by default; subclasses override ``should_stop`` / ``choose`` / ``check``."""

    name = ""

    def check(self, *, eval_images: int | None, track_hessian: bool) -> None:
        return None

    def should_stop(self, step: int, record: SearchRecord) -> bool:
        return False

    def choose(self, record: SearchRecord) -> tuple[Arch, float]:
        """The selected architecture and its held-out α-split accuracy (NaN when not evaluated)."""
        last = record.history[-1].get("valid_acc", math.nan) if record.history else math.nan
        return record.derive(), last

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def extra_steps(self, space: Any) -> int:
        """Steps the rule runs after the search epochs (DARTS-PT's tuning epochs); none by default."""
        return 0

    def run_step(self, step: int, search: Any) -> dict[str, Any]:
        """One of the rule's own steps (``step`` counts from 0 after the search epochs); the harness calls it only
        for the ``extra_steps`` a rule declares, so a rule without steps is never asked."""
        raise RuntimeError(f"selection {self.name!r} declares no steps of its own (extra_steps is 0), got step {step}")

    def state_dict(self) -> dict[str, Any]:
        """What the rule must carry across a resume (saved with the search's checkpoint); none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class FinalEpoch(Selection):
    """DARTS: the architecture derived from α after the last epoch."""

    name = "final_epoch"


class A2MEarlyStop(Selection):
    """A²M: stop once the held-out loss has not improved for more than ``patience`` epochs; return the genotype
    from the *start* of the best epoch (A²M's off-by-one, docs/methods.md#a2m)."""

    name = "a2m_early_stop"

    def __init__(self, patience: int = 10) -> None:
        if patience < 0:
            raise ValueError(f"selection.patience={patience}: must be >= 0 (A²M uses 10)")
        self.patience = patience

    def check(self, *, eval_images: int | None, track_hessian: bool) -> None:
        if eval_images == 0:
            raise ValueError("selection=a2m_early_stop needs the per-epoch held-out loss; set eval_images > 0 or null")

    def should_stop(self, step: int, record: SearchRecord) -> bool:
        return step - record.best_epoch > self.patience

    def choose(self, record: SearchRecord) -> tuple[Arch, float]:
        acc = record.history[record.best_epoch]["valid_acc"] if record.best_epoch >= 0 else math.nan
        return record.best_arch, acc

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "patience": self.patience}


@dataclass(frozen=True)
class EarlyStop:
    """A DARTS-ES decision at one epoch: the ratio of local averages, and the epoch to return to if it stops."""

    ratio: float | None
    stop_epoch: int | None


@dataclass(frozen=True)
class DartsES(Selection):
    """RobustDARTS's ``EVLocalAvg.update`` + ``early_stop`` (src/utils.py), as a function of the history.

    Eigenvalues are taken every ``every`` epochs (their ``--report_freq_hessian``, nasflat's
    ``algo.hessian.every``). The local average of an evaluation is the mean of the last ``window`` eigenvalues
    (fewer at the start), credited to the epoch ``every·⌊window/2⌋`` earlier (a centred window). At epoch e its
    local average is compared with the one ``delta`` evaluations before; the search stops when current / previous
    > ``factor`` and returns the architecture of epoch e − every·(⌊window/2⌋ + delta), once that epoch is
    ≥ ``start_epoch``. The harness logs these decisions whenever tracking is on (with the defaults when another
    rule selects); as the selection rule, it also stops the search.
    """

    window: int = 5
    delta: int = 4
    factor: float = 1.3
    start_epoch: int = 10
    name = "darts_es"

    def __post_init__(self) -> None:
        if min(self.window, self.delta) < 1 or self.factor <= 0 or self.start_epoch < 0:
            raise ValueError(
                "selection (darts_es) needs window, delta >= 1, factor > 0, start_epoch >= 0; got "
                f"{self.window}, {self.delta}, {self.factor}, {self.start_epoch}"
            )

    def local_averages(self, eigenvalues: Sequence[float]) -> list[float]:
        """The list ``ev_local_avg`` after each evaluation (the first ⌈window/2⌉ − 1 evaluations add none)."""
        first = math.ceil(self.window / 2)
        return [
            sum(eigenvalues[max(0, n - self.window) : n]) / min(n, self.window)
            for n in range(first, len(eigenvalues) + 1)
        ]

    def check_epoch(self, epoch: int, eigenvalues: Sequence[float], every: int = 1) -> EarlyStop:
        """The decision after the evaluation at ``epoch`` (the last of ``eigenvalues``, taken every ``every``
        epochs); RobustDARTS never checks after the final epoch."""
        target = epoch - every * (self.window // 2 + self.delta)
        averages = self.local_averages(eigenvalues)
        if len(eigenvalues) < math.ceil(self.window / 2) or target < self.start_epoch or len(averages) <= self.delta:
            return EarlyStop(None, None)
        previous = averages[-1 - self.delta]
        ratio = averages[-1] / previous if previous else math.inf
        return EarlyStop(ratio, target if ratio > self.factor else None)

    def check(self, *, eval_images: int | None, track_hessian: bool) -> None:
        if not track_hessian:
            raise ValueError("selection=darts_es stops on the tracked α-Hessian eigenvalue; set track_hessian=true")

    def should_stop(self, step: int, record: SearchRecord) -> bool:
        return record.es_epoch is not None

    def choose(self, record: SearchRecord) -> tuple[Arch, float]:
        if record.es_epoch is None:
            return super().choose(record)
        chosen = record.history[record.es_epoch]
        return record.parse(chosen["arch"]), chosen.get("valid_acc", math.nan)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "window": self.window,
            "delta": self.delta,
            "factor": self.factor,
            "start_epoch": self.start_epoch,
        }
