"""PNG figures for `nasflat report`: accuracy against search cost, and the derived architecture per search epoch.

The data are extracted by plain functions (tested against results.json / metrics.jsonl) and only then drawn, so a
figure never shows a number that the tables do not.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasflat.spaces.nb201.codec import DATASETS

Result = dict[str, Any]


def group_labels(results: Sequence[Result], key: Callable[[Result], tuple[str, ...]]) -> list[str]:
    """One label per result: the parts of ``key`` that differ between results, joined by '/'."""
    keys = [key(r) for r in results]
    varying = [i for i in range(len(keys[0])) if len({k[i] for k in keys}) > 1] if keys else []
    varying = varying or [1]  # always name the algorithm
    return ["/".join(k[i] for i in varying) for k in keys]


@dataclass(frozen=True)
class Metric:
    """A per-run accuracy (percent) for the cost plot; ``None`` where the run does not have it."""

    label: str
    value: Callable[[Result], float | None]


def _bench_test(r: Result) -> float | None:
    """NB201 test accuracy on the search dataset; CIFAR-10's when the search ran on other data (e.g. digits)."""
    bench = r.get("benchmark") or {}
    entry = bench.get(r.get("dataset")) or bench.get("cifar10")
    return None if entry is None else float(entry["test"])


def _retrain_test(r: Result) -> float | None:
    retrain = r.get("retrain") or {}
    return None if "test_acc" not in retrain else 100.0 * float(retrain["test_acc"])


METRICS = (
    Metric("NB201 test accuracy (%), search dataset (else CIFAR-10)", _bench_test),
    Metric("retrained test accuracy (%)", _retrain_test),
)


def search_cost(r: Result, gpu_hours: bool) -> float | None:
    """Search cost of one run: GPU-hours (wall time x GPUs) or wall-clock hours; None for retrain-only runs."""
    search = r.get("search")
    if not search:
        return None
    hours = float(search["wall_time_s"]) / 3600
    return hours * int((r.get("hardware") or {}).get("gpus", 0)) if gpu_hours else hours


def cost_points(
    results: Sequence[Result], labels: Sequence[str], metric: Metric, gpu_hours: bool
) -> dict[str, list[tuple[float, float]]]:
    """(search cost, accuracy) per run, by group label; runs lacking either are left out."""
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r, label in zip(results, labels):
        cost, acc = search_cost(r, gpu_hours), metric.value(r)
        if cost is not None and acc is not None:
            points[label].append((cost, acc))
    return dict(points)


# per-epoch panels of derived_arch_by_epoch.png: (panel, metrics.jsonl key, y label)
EPOCH_PANELS = (
    *((d, f"bench_test_acc_{d}", "test accuracy of the derived architecture (%)") for d in DATASETS),
    ("param_free_ops", "param_free_ops", "parameter-free ops in the derived cell"),
)


def epoch_curves(results: Sequence[Result], labels: Sequence[str]) -> dict[str, dict[str, list[list[float]]]]:
    """Per-epoch curves of the derived architecture (differentiable searches): its NB201 test accuracy per dataset
    (with a table) and its number of parameter-free ops (DARTS's collapse shows as this count rising).

    Returns ``{panel: {label: [curve per run]}}`` (panels of ``EPOCH_PANELS``) from each run's metrics.jsonl.
    """
    curves: dict[str, dict[str, list[list[float]]]] = {p: defaultdict(list) for p, _, _ in EPOCH_PANELS}
    for r, label in zip(results, labels):
        by_step = search_rows(r)
        for panel, key, _ in EPOCH_PANELS:
            curve = [float(by_step[s][key]) for s in sorted(by_step) if key in by_step[s]]
            if curve:
                curves[panel][label].append(curve)
    return {p: dict(c) for p, c in curves.items() if c}


def search_rows(r: Result) -> dict[int, dict[str, Any]]:
    """The run's per-epoch ``search`` records from its metrics.jsonl, by step (empty when the file is missing)."""
    path = Path(r["_path"]).parent / "metrics.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["step"]: row for row in rows if row.get("phase") == "search"}


def curvature_curves(results: Sequence[Result], labels: Sequence[str]) -> dict[str, dict[int, list[float]]]:
    """λ_max(∇²_α L_val) per search epoch (1-based), by group label: ``{label: {epoch: [value per run]}}``.

    Only tracked epochs appear (``algo.hessian.every`` > 1 leaves gaps); runs without tracking are left out.
    """
    out: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r, label in zip(results, labels):
        for step, row in sorted(search_rows(r).items()):
            if "alpha_hessian_eig" in row:
                out[label][step + 1].append(float(row["alpha_hessian_eig"]))
    return {label: dict(by_epoch) for label, by_epoch in out.items()}


def plot_alpha_curvature(results: Sequence[Result], labels: Sequence[str], path: Path) -> Path | None:
    """Dominant α-Hessian eigenvalue per search epoch: mean over runs (seeds), band = min..max."""
    curves = curvature_curves(results, labels)
    if not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (label, by_epoch) in enumerate(sorted(curves.items())):
        epochs = sorted(by_epoch)
        colour, n = f"C{i % 10}", max(len(v) for v in by_epoch.values())
        means = [statistics.fmean(by_epoch[e]) for e in epochs]
        ax.plot(epochs, means, "o-", ms=3, color=colour, label=f"{label} (n={n})")
        lo, hi = [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs]
        ax.fill_between(epochs, lo, hi, color=colour, alpha=0.2)
    ax.set_xlabel("search epoch")
    ax.set_ylabel("dominant eigenvalue of the α-Hessian of L_val")
    return _save(plt, fig, path)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_vs_cost(results: Sequence[Result], labels: Sequence[str], path: Path) -> Path | None:
    """Scatter of every run plus each group's mean ± std, one panel per accuracy that the runs have."""
    gpu_hours = any(search_cost(r, True) for r in results)
    panels = [(m, cost_points(results, labels, m, gpu_hours)) for m in METRICS]
    panels = [(m, p) for m, p in panels if p]
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (metric, points) in zip(axes[0], panels):
        for i, (label, pts) in enumerate(sorted(points.items())):
            xs, ys = zip(*pts)
            colour = f"C{i % 10}"
            ax.scatter(xs, ys, s=14, alpha=0.45, color=colour)
            ax.errorbar(
                statistics.fmean(xs),
                statistics.fmean(ys),
                xerr=_std(xs),
                yerr=_std(ys),
                fmt="o",
                color=colour,
                capsize=3,
            )
            ax.plot([], [], "o", color=colour, label=f"{label} (n={len(pts)})")
        ax.set_xscale("log")
        ax.set_xlabel("search cost (GPU-hours)" if gpu_hours else "search cost (wall-clock hours)")
        ax.set_ylabel(metric.label)
    return _save(plt, fig, path)


def plot_epoch_curves(results: Sequence[Result], labels: Sequence[str], path: Path) -> Path | None:
    """The derived architecture per search epoch (NB201 test accuracy, parameter-free ops): mean over runs, band =
    min..max."""
    curves = epoch_curves(results, labels)
    ylabels = {p: y for p, _, y in EPOCH_PANELS}
    if not curves:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), squeeze=False)
    for ax, (panel, by_label) in zip(axes[0], curves.items()):
        for i, (label, runs) in enumerate(sorted(by_label.items())):
            length = min(len(c) for c in runs)
            cols = [[c[e] for c in runs] for e in range(length)]
            epochs = range(1, length + 1)
            colour = f"C{i % 10}"
            ax.plot(epochs, [statistics.fmean(c) for c in cols], color=colour, label=f"{label} (n={len(runs)})")
            ax.fill_between(epochs, [min(c) for c in cols], [max(c) for c in cols], color=colour, alpha=0.2)
        ax.set_title(f"NB201 {panel}" if panel in DATASETS else panel)
        ax.set_xlabel("search epoch")
        ax.set_ylabel(ylabels[panel])
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    for ax in fig.axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _std(xs: Sequence[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0  # sample std, as in the report's table
