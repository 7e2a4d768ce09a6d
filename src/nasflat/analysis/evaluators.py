"""`analyze evaluators`: score N seeded NB201 architectures with several evaluators, per supernet seed and epoch.

All supernet-based evaluators of one seed share one SPOS supernet: either trained here (an explicit, logged,
checkpointed phase that also keeps the supernet's weights at ``epochs_to_compare``) or loaded from a finished
``nasflat search`` run (``supernet_from``), never retrained silently. Scoring is a resumable phase per (seed, epoch)
whose checkpoint holds the evaluators' caches. The statistics are in :mod:`nasflat.analysis.rank_study`.
docs/analysis.md#evaluator-ranking-and-weight-sharing-variance-analyze-evaluators
"""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from nasflat.checkpoint import CheckpointStore
from nasflat.context import DataSpec, SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.hardware import Hardware
from nasflat.phases import run_phase
from nasflat.rundir import differences
from nasflat.spaces.base import Arch, SearchSpace
from nasflat.spaces.nb201 import Dataset
from nasflat.tracking import Tracker

Key = tuple[int, int | None, str]  # (supernet seed, supernet epoch or None for supernet-free evaluators, evaluator)
# what must agree between this study and a search run whose supernet it reuses (keys of run.json's config)
MATCH_KEYS = ("space", "search_net", "supernet")
MATCH_DATASET = ("name", "max_train", "split_method", "split_portion", "mean", "std")


@dataclass(frozen=True)
class StudyConfig:
    """What to score and how often: ``num_archs`` archs drawn with ``numpy.random.default_rng(arch_seed)``."""

    num_archs: int = 200
    evaluators: list[str] = field(default_factory=lambda: ["supernet", "flatness", "angle", "naswot"])
    seeds: list[int] | None = field(default_factory=lambda: [0, 1, 2])  # None: the seeds of supernet_from's runs
    epochs_to_compare: list[int] = field(default_factory=list)  # earlier supernet epochs scored too (final always)
    truth_split: Literal["valid", "test"] = "test"
    truth_dataset: Dataset | None = None  # None: the study's dataset
    top_k: list[int] = field(default_factory=lambda: [10, 20])
    supernet_from: list[str] = field(default_factory=list)  # finished `nasflat search` run dirs, one per seed
    chunk: int = 25  # architectures per checkpointed scoring step


@dataclass
class StudyResult:
    archs: list[Arch]
    truth: list[float]
    scores: dict[Key, list[float]]
    final_epoch: int | None  # None: no evaluator needed a supernet
    seeds: list[int]
    timings: dict[str, float]  # phase name -> wall seconds; "<phase>/<evaluator>_s_per_arch" -> seconds
    supernet: dict[str, Any]  # where each seed's supernet came from, its size


def sample_archs(space: SearchSpace, n: int, seed: int) -> list[Arch]:
    """``n`` distinct architectures in the order ``numpy.random.default_rng(seed)`` first draws them."""
    rng, seen = np.random.default_rng(seed), {}
    while len(seen) < n:
        seen.setdefault(space.sample(rng), None)
    return list(seen)


def _needs_supernet(factory: Callable[..., Any]) -> bool:
    return bool(getattr(getattr(factory, "func", factory), "needs_supernet", False))


def uses_supernet(factories: dict[str, Callable[..., Any]]) -> bool:
    """Whether any of these evaluator factories scores paths of a trained supernet."""
    return any(map(_needs_supernet, factories.values()))


class SnapshotTrainer:
    """The SPOS supernet phase plus copies of its weights after the epochs in ``keep`` (part of its checkpoint)."""

    def __init__(self, trainer: Any, keep: Sequence[int], name: str) -> None:
        self.trainer, self.name, self.total_steps = trainer, name, trainer.total_steps
        self.keep, self.snapshots = set(keep), {}

    def run_step(self, step: int) -> dict[str, Any]:
        metrics = self.trainer.run_step(step)
        if step + 1 in self.keep:
            self.snapshots[step + 1] = {k: v.detach().clone() for k, v in self.trainer.supernet.state_dict().items()}
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {**self.trainer.state_dict(), "snapshots": {str(e): s for e, s in self.snapshots.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state)
        self.snapshots = {int(e): s for e, s in state.get("snapshots", {}).items()}


class ScoringPhase:
    """Score ``archs`` in chunks with every evaluator; the evaluators' caches are the checkpointed state."""

    def __init__(self, name: str, evaluators: dict[str, Evaluator], archs: list[Arch], chunk: int) -> None:
        self.name, self.evaluators, self.archs, self.chunk = name, evaluators, archs, chunk
        self.total_steps = math.ceil(len(archs) / chunk)
        self.seconds = dict.fromkeys(evaluators, 0.0)

    def run_step(self, step: int) -> dict[str, Any]:
        part = self.archs[step * self.chunk : (step + 1) * self.chunk]
        for name, ev in self.evaluators.items():
            t0 = time.perf_counter()
            ev.score(part)
            self.seconds[name] += time.perf_counter() - t0
        return {"scored": step * self.chunk + len(part), **{f"{n}_s": s for n, s in self.seconds.items()}}

    def scores(self) -> dict[str, list[float]]:
        return {n: ev.score(self.archs) for n, ev in self.evaluators.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"evaluators": {n: ev.state_dict() for n, ev in self.evaluators.items()}, "seconds": self.seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, ev in self.evaluators.items():
            ev.load_state_dict(state["evaluators"][n])
        self.seconds = {n: float(state["seconds"][n]) for n in self.evaluators}


@dataclass(frozen=True)
class ReusedSupernet:
    """A finished search run's SPOS supernet checkpoint and the seed it was trained with."""

    run_dir: Path
    seed: int
    checkpoint: Path


def find_search_supernet(run_dir: str | Path, expected: dict[str, Any]) -> ReusedSupernet:
    """The supernet checkpoint of search run ``run_dir``, refused unless its config matches ``expected``.

    ``expected`` holds this study's resolved ``space``, ``search_net``, ``supernet`` and ``dataset`` nodes; a search
    run records its own in ``run.json`` (written when the run directory is claimed).
    """
    run_dir = Path(run_dir)
    ident, ckpt = run_dir / "run.json", run_dir / "checkpoints" / "supernet.pt"
    if not ident.exists():
        raise FileNotFoundError(
            f"supernet_from={run_dir}: no run.json there; give the directory of a `nasflat search` run"
        )
    if not ckpt.exists():
        raise FileNotFoundError(
            f"supernet_from={run_dir}: no supernet checkpoint {ckpt} (the run's evaluator did not train a supernet, "
            "or it was restarted); use a search run with a supernet-based evaluator, or leave supernet_from empty "
            "to train one here"
        )
    config = json.loads(ident.read_text())["config"]
    theirs = {k: config.get(k) for k in MATCH_KEYS} | {"dataset": _pick(config.get("dataset"), MATCH_DATASET)}
    ours = {k: expected.get(k) for k in MATCH_KEYS} | {"dataset": _pick(expected.get("dataset"), MATCH_DATASET)}
    if diffs := differences(theirs, ours):
        raise ValueError(
            f"supernet_from={run_dir} was trained with a different configuration (run -> here: {'; '.join(diffs)}). "
            "Set these keys to the run's values (its .hydra/config.yaml) so the reused supernet is the one this "
            "study describes"
        )
    return ReusedSupernet(run_dir, int(config["seed"]), ckpt)


def _pick(node: dict[str, Any] | None, keys: Sequence[str]) -> dict[str, Any]:
    return {k: (node or {}).get(k) for k in keys}


def load_supernet(trainer: Any, reused: ReusedSupernet) -> None:
    """Load a finished search run's supernet (weights and initial weights) into ``trainer``; no training step runs."""
    payload = torch.load(reused.checkpoint, map_location="cpu", weights_only=True)
    done, total = int(payload.get("step", -1)), trainer.total_steps
    if done != total:
        raise ValueError(
            f"supernet_from={reused.run_dir}: its supernet stopped at epoch {done} of {total}; finish the search run "
            "first (rerun its command) or leave supernet_from empty to train one here"
        )
    trainer.load_state_dict(payload["phase"])


@dataclass
class Study:
    """Everything the study runs on, built by the CLI from the config (typed, no DictConfig)."""

    config: StudyConfig
    space: SearchSpace
    data: DataSpec
    table: Any
    arch_seed: int
    hardware: Hardware
    store: CheckpointStore
    tracker: Tracker
    evaluators: dict[str, Callable[..., Evaluator]]  # name -> factory(ctx[, supernet=...])
    supernet_factory: Callable[..., Any] | None = None  # factory(ctx) -> SupernetTrainer
    supernet_options: dict[str, Any] = field(default_factory=dict)
    reused: list[ReusedSupernet] = field(default_factory=list)
    truth_dataset: str = "cifar10"

    def run(self) -> StudyResult:
        archs = sample_archs(self.space, self.config.num_archs, self.arch_seed)
        truth = [self.table.query(a, self.truth_dataset, self.config.truth_split) for a in archs]
        seeds = [r.seed for r in self.reused] if self.reused else list(self.config.seeds or [])
        result = StudyResult(archs, truth, {}, None, seeds, {}, {"per_seed": {}})
        for i, seed in enumerate(seeds):
            self._one_seed(seed, self.reused[i] if self.reused else None, result)
        order = {n: i for i, n in enumerate(self.evaluators)}  # report in the order the evaluators were listed
        result.scores = dict(sorted(result.scores.items(), key=lambda kv: (order[kv[0][2]], kv[0][0], kv[0][1] or 0)))
        return result

    def _context(self, seed: int) -> SearchContext:
        return SearchContext(
            space=self.space,
            seed=seed,
            hardware=self.hardware,
            data_spec=self.data.with_default_split("nb201"),  # SPOS / GeNAS's official split (random without files)
            table=self.table,
            reporter=self.tracker,
            supernet_options=self.supernet_options,
        )

    def _score(self, name: str, evaluators: dict[str, Evaluator], result: StudyResult, seed: int, epoch: int | None):
        phase = ScoringPhase(name, evaluators, result.archs, self.config.chunk)
        result.timings[name] = run_phase(phase, self.store, self.tracker)
        for ev_name, column in phase.scores().items():
            result.scores[(seed, epoch, ev_name)] = column
            result.timings[f"{name}/{ev_name}_s_per_arch"] = phase.seconds[ev_name] / len(result.archs)

    def _one_seed(self, seed: int, reused: ReusedSupernet | None, result: StudyResult) -> None:
        ctx = self._context(seed)
        free = {n: f for n, f in self.evaluators.items() if not _needs_supernet(f)}
        shared = {n: f for n, f in self.evaluators.items() if _needs_supernet(f)}
        if free:
            self._score(f"scores_seed{seed}", {n: f(ctx) for n, f in free.items()}, result, seed, None)
        if not shared:
            return
        if self.supernet_factory is None:
            raise ValueError(f"evaluators {sorted(shared)} need a supernet, but no `supernet` config was given")
        trainer = self.supernet_factory(ctx)
        info = self._supernet(ctx, trainer, seed, reused, result)
        result.supernet["per_seed"][seed] = info
        snapshots = info.pop("_snapshots")
        final = {k: v.detach().clone() for k, v in trainer.supernet.state_dict().items()}
        result.final_epoch = trainer.total_steps
        for epoch in sorted({*snapshots, trainer.total_steps}):
            trainer.supernet.load_state_dict(snapshots.get(epoch, final))
            evaluators = {n: f(ctx, supernet=trainer) for n, f in shared.items()}
            self._score(f"scores_seed{seed}_epoch{epoch}", evaluators, result, seed, epoch)
        trainer.supernet.load_state_dict(final)

    def _supernet(
        self, ctx: Any, trainer: Any, seed: int, reused: ReusedSupernet | None, result: StudyResult
    ) -> dict[str, Any]:
        info = {
            **supernet_size(self.space, self.supernet_options),
            "params": sum(p.numel() for p in trainer.supernet.parameters()),
            "epochs": trainer.total_steps,
            "search_train_images": len(ctx.data.splits["search_train"]),
        }
        size = describe_size(info)
        if reused is not None:
            load_supernet(trainer, reused)
            self.tracker.console.log(f"seed {seed}: reusing the supernet of {reused.run_dir} ({size})")
            return {**info, "source": str(reused.checkpoint), "_snapshots": {}}
        self.tracker.console.log(
            f"seed {seed}: SPOS supernet trained (or resumed) here, no supernet_from given ({size})"
        )
        phase = SnapshotTrainer(trainer, self.config.epochs_to_compare, f"supernet_seed{seed}")
        result.timings[phase.name] = run_phase(phase, self.store, self.tracker)
        return {**info, "source": f"trained here ({self.store.path(phase.name)})", "_snapshots": phase.snapshots}


def supernet_size(space: SearchSpace, options: dict[str, Any]) -> dict[str, Any]:
    """C and N of the supernet ``space.supernet(**options)`` builds (its defaults where not given)."""
    defaults = inspect.signature(space.supernet).parameters
    return {k: options.get(k, defaults[k].default if k in defaults else None) for k in ("C", "N")}


def describe_size(info: dict[str, Any]) -> str:
    """One line: the supernet's size and training, as the report states it."""
    return (
        f"SPOS supernet C={info['C']}, N={info['N']} ({info['params']:,} parameters), {info['epochs']} epochs on "
        f"{info['search_train_images']:,} search-train images"
    )


def study_problems(
    study: StudyConfig, available: Sequence[str], supernet_epochs: int, uses_supernet: bool, reused_seeds: list[int]
) -> list[tuple[str, Any, str, str]]:
    """(key, value, what is wrong, what is accepted) for each inconsistency the schema's per-key checks cannot see."""
    out = []
    unknown = [n for n in study.evaluators if n not in available]
    if unknown or not study.evaluators or len(set(study.evaluators)) < len(study.evaluators):
        out.append(("study.evaluators", study.evaluators, "unknown, repeated or none", f"names from {list(available)}"))
    if max(study.top_k, default=0) > study.num_archs:
        out.append(("study.top_k", study.top_k, "larger than study.num_archs", f"<= {study.num_archs}"))
    bad = [e for e in study.epochs_to_compare if not 1 <= e < supernet_epochs]
    if bad:
        out.append(("study.epochs_to_compare", bad, "not before the final epoch", f"in [1, {supernet_epochs - 1}]"))
    if study.epochs_to_compare and reused_seeds and uses_supernet:  # (without a supernet there are no epochs)
        why = "a search run keeps only its final supernet"
        out.append(("study.epochs_to_compare", study.epochs_to_compare, why, "[] with supernet_from"))
    if reused_seeds and study.seeds is not None and study.seeds != reused_seeds:
        what = f"the supernet_from runs have seeds {reused_seeds}"
        out.append(("study.seeds", study.seeds, what, f"null or {reused_seeds}"))
    if len(set(reused_seeds)) < len(reused_seeds):
        what = f"the runs share a seed ({reused_seeds}): each seed's scores would overwrite another's"
        out.append(("study.supernet_from", study.supernet_from, what, "runs with distinct seeds"))
    if not reused_seeds and (not study.seeds or len(set(study.seeds)) < len(study.seeds)):
        out.append(("study.seeds", study.seeds, "none or repeated", "a list of distinct seeds, e.g. [0, 1, 2]"))
    return out
