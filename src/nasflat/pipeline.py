"""search -> derive -> retrain -> evaluate -> results.json, resumable phase by phase.

Everything here takes typed arguments; ``cli.py`` builds them from the Hydra config.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import nasflat
from nasflat.checkpoint import CheckpointStore
from nasflat.context import DataSpec, SearchContext, official_split
from nasflat.distributed import is_main, world_size
from nasflat.hardware import Hardware
from nasflat.phases import run_phase
from nasflat.rundir import replace_atomic, write_atomic
from nasflat.spaces.base import Arch, SearchSpace
from nasflat.tracking import Tracker
from nasflat.train import RetrainConfig, Retrainer, evaluate

RESULTS = "results.json"


@dataclass
class RunPlan:
    """One experiment: what to search (or which arch to retrain), on what, where its outputs go."""

    space: SearchSpace
    space_name: str
    data: DataSpec
    seed: int
    run_dir: Path
    hardware: Hardware
    tracker: Tracker
    store: CheckpointStore
    config: dict[str, Any]
    algo_name: str | None = None
    algo: Callable[..., Any] | None = None  # factory(ctx, evaluator) -> search phase
    evaluator_name: str | None = None
    evaluator: Callable[..., Any] | None = None  # factory(ctx, supernet=...) -> Evaluator
    supernet_trainer: Callable[..., Any] | None = None  # factory(ctx) -> SupernetTrainer
    retrain: RetrainConfig | None = None
    arch: Arch | None = None  # given for `nasflat retrain`
    table: Any = None  # a benchmark table (``covers(space)``, ``entry(arch)``); ignored for a space it does not cover
    supernet_options: dict[str, Any] = field(default_factory=dict)


def versions() -> dict[str, Any]:
    def git_rev() -> str | None:
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
            )
            return out.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None

    return {
        "nasflat": nasflat.__version__,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "git_revision": git_rev(),
    }


def _flag(factory: Callable[..., Any] | None, name: str, default: bool = False) -> bool:
    """A class attribute of the object a (partial) factory builds, e.g. ``needs_supernet``."""
    return bool(getattr(getattr(factory, "func", factory), name, default))


def _needs_supernet(factory: Callable[..., Any] | None) -> bool:
    return _flag(factory, "needs_supernet")


def table_for(space: SearchSpace, table: Any) -> Any:
    """``table`` if it holds ``space``'s architectures, else None: a table configured globally (e.g. through
    NASFLAT_NB201_TABLE) is simply unused by a space it does not cover."""
    return table if table is not None and table.covers(space) else None


def _write(path: Path, text: str) -> None:
    """Atomic text write, rank 0 only (every rank computes the same results)."""
    if is_main():
        write_atomic(path, text)


def run(plan: RunPlan) -> dict[str, Any]:
    """Run (or resume) the whole experiment and write ``results.json``; returns the results dict."""
    out = plan.run_dir / RESULTS
    if out.exists():
        results = json.loads(out.read_text())
        plan.tracker.console.log(f"[green]run already complete: {out} (use restart=true to run it again)")
        _summarize(plan, results)
        return results

    t_start = time.perf_counter()
    table = table_for(plan.space, plan.table)
    ctx = SearchContext(
        space=plan.space,
        seed=plan.seed,
        hardware=plan.hardware,
        data_spec=plan.data.with_default_split(official_split(plan.algo)),  # an explicit split_method wins
        table=table,
        reporter=plan.tracker,
        supernet_options=plan.supernet_options,
    )
    results: dict[str, Any] = {
        "space": plan.space_name,
        "algo": plan.algo_name,
        "dataset": plan.data.label,
        "seed": plan.seed,
    }

    arch = plan.arch
    if arch is None:
        arch, results["search"] = _search(plan, ctx)
    else:
        results["search"] = None
    arch_text = plan.space.format(arch)
    results["arch"] = arch_text
    _write(plan.run_dir / "arch.txt", arch_text + "\n")
    results["arch_summary"] = {
        "param_free_ops": plan.space.param_free_ops(arch),
        "topology": plan.space.topology(arch),  # docs/analysis.md#cell-topology-width-and-depth
    }
    results["benchmark"] = table.entry(arch) if table is not None else None

    results["retrain"] = _retrain(plan, ctx, arch) if plan.retrain is not None else None
    if ctx.data_loaded:
        d = ctx.data
        results["data"] = {"source": d.source, "split_method": d.split_method, "split": d.split, "sizes": d.sizes()}
    results["wall_time_s"] = time.perf_counter() - t_start  # this process only; phases sum over resumes
    results["resumed"] = plan.store.resumed  # phase -> steps found done in its checkpoint ({} = ran start to end)
    results["hardware"] = _hardware_entry(plan.hardware)
    results["versions"] = versions()
    results["config"] = plan.config
    results["run_dir"] = str(plan.run_dir)
    _write(out, json.dumps(results, indent=2, default=str))
    plan.tracker.artifacts("run", "results", [plan.run_dir / "arch.txt", out, plan.run_dir / "final_model.pt"])
    _summarize(plan, results)
    return results


def _hardware_entry(hardware: Any) -> dict[str, Any]:
    """Where the run ran, for results.json (GPU count = processes when on CUDA)."""
    gpus = world_size() if hardware.device.startswith("cuda") else 0
    return {
        "device": hardware.device,
        "world_size": world_size(),
        "gpus": gpus,
        "dtype": hardware.dtype,
        "bf16": hardware.bf16,
    }


def _search(plan: RunPlan, ctx: SearchContext) -> tuple[Arch, dict[str, Any]]:
    if plan.algo is None:
        raise ValueError("no search algorithm configured (algo=...)")
    supernet, supernet_time = None, 0.0
    evaluator_factory = plan.evaluator if _flag(plan.algo, "uses_evaluator", True) else None  # e.g. DARTS: none
    if _needs_supernet(evaluator_factory) or _needs_supernet(plan.algo):
        if plan.supernet_trainer is None:
            raise ValueError(f"evaluator={plan.evaluator_name} needs a trained supernet but none is configured")
        trainer = plan.supernet_trainer(ctx)
        supernet_time = run_phase(trainer, plan.store, plan.tracker)
        supernet = trainer  # evaluators get the trainer: its supernet plus the initial weights (ABS angle)
    evaluator = None
    if evaluator_factory is not None:
        kwargs = {"supernet": supernet} if supernet is not None and _needs_supernet(evaluator_factory) else {}
        evaluator = evaluator_factory(ctx, **kwargs)
    algo = plan.algo(ctx, evaluator)
    search_time = run_phase(algo, plan.store, plan.tracker)
    arch, score = algo.best()
    summary = {
        "wall_time_s": supernet_time + search_time,
        "supernet_time_s": supernet_time,
        "search_time_s": search_time,
        "score": score,
        **algo.summary(),
    }
    _write(
        plan.run_dir / "search.json", json.dumps({"arch": plan.space.format(arch), **summary}, indent=2, default=str)
    )
    return arch, summary


def _retrain(plan: RunPlan, ctx: SearchContext, arch: Arch) -> dict[str, Any]:
    cfg = plan.retrain
    assert cfg is not None
    retrainer = Retrainer(ctx, arch, cfg)
    wall = run_phase(retrainer, plan.store, plan.tracker)
    last = retrainer.history[-1]
    model = retrainer.model
    if is_main():
        state = model.state_dict()
        replace_atomic(plan.run_dir / "final_model.pt", lambda tmp: torch.save(state, tmp))
    entry: dict[str, Any] = {
        "epochs": cfg.epochs,
        "train_acc": last["train_acc"],
        "train_loss": last["train_loss"],
        "test_acc": last["test_acc"],
        "test_loss": last["test_loss"],
        "wall_time_s": wall,
        "params": sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n),
        "protocol": cfg.to_dict(),
    }
    halves = {k[len("test_") :]: v for k, v in ctx.data.splits.items() if k in ("test_valid", "test_test")}
    if halves:  # NB201's x-valid / x-test halves of the CIFAR-100 / ImageNet16-120 test sets
        entry["test_halves"] = {
            k: evaluate(model, ctx.loader(f"test_{k}", 512, train=False), hw=ctx.hardware)["acc"] for k in halves
        }
    return entry


def _summarize(plan: RunPlan, r: dict[str, Any]) -> None:
    rows = [
        ("space / algo / dataset", f"{r['space']} / {r.get('algo')} / {r['dataset']}"),
        ("seed", str(r["seed"])),
        ("architecture", r["arch"]),
    ]
    if r.get("search"):
        s = r["search"]
        what = f"{s['evaluations']} evaluations" if "evaluations" in s else f"selection {s.get('selection', '-')}"
        rows.append(("search", f"{what}, {s['wall_time_s']:.1f} s"))
    if r.get("retrain"):
        t = r["retrain"]
        rows.append(("retrain", f"{t['epochs']} epochs, {t['wall_time_s']:.1f} s, {t['params']:,} params"))
        rows.append(("test accuracy", f"{100 * t['test_acc']:.2f}%"))
    if r.get("benchmark"):
        rows += [(f"NB201 {d} valid/test", f"{v['valid']:.2f} / {v['test']:.2f}") for d, v in r["benchmark"].items()]
    rows.append(("results", str(plan.run_dir / RESULTS)))
    plan.tracker.summary("nasflat", rows)
