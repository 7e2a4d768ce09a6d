"""evaluators.md / .csv / .json and the PNGs of an evaluator study (matplotlib, Agg backend).

The figures draw the numbers of the summary (:mod:`nasflat.analysis.evaluator_report`), nothing else.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from nasflat.analysis.evaluator_report import evaluator_names, final_key, summarize
from nasflat.analysis.evaluators import Study, StudyResult, describe_size
from nasflat.rundir import write_atomic
from nasflat.spaces.base import SearchSpace


def _f(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _pm(row: dict[str, Any], key: str) -> str:
    std = row.get(f"{key}_std")
    return _f(row.get(key)) + ("" if std is None or math.isnan(std) else f" ± {_f(std)}")


def _std(std: float | None) -> str:
    return "" if std is None or math.isnan(std) else f"±{_f(std)}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def main_table(summary: dict[str, Any], ks: list[int]) -> str:
    """Per evaluator vs the NB201 truth: τ-b, ρ, top-k precision (mean ± std over seeds), dropped scores."""
    header = ["evaluator", "n", "dropped", "Kendall τ-b", "Spearman ρ", *(f"top-{k} prec." for k in ks)]
    rows = [
        [r["evaluator"], _f(int(r["n"])), _f(int(r["dropped"])), _pm(r, "kendall_tau"), _pm(r, "spearman_rho")]
        + [_pm(r, f"top{k}_precision") for k in ks]
        for r in summary["truth_table"]
    ]
    return _table(header, rows)


def genas_table(summary: dict[str, Any], dataset: str) -> str:
    header = ["GeNAS pair", "evaluators", "τ measured here (mean ± std)", f"τ published ({dataset})", "scale"]
    rows = [[g["pair"], g["evaluators"], _pm(g, "tau"), _f(g["published"]), g["scale"]] for g in summary["genas"]]
    return _table(header, rows) if rows else "Not measured: needs the evaluators angle, flatness and supernet."


def matrix_table(summary: dict[str, Any]) -> str:
    m = summary["tau_matrix"]
    rows = [[n, *(_f(v) for v in m["mean"][i])] for i, n in enumerate(m["names"])]
    return _table(["τ-b (mean over seeds)", *m["names"]], rows)


def variance_table(summary: dict[str, Any]) -> str:
    header = ["evaluator", "τ per epoch (mean ± std over seeds)", "top-1 changed: seed pairs", "top-1 changed: epochs"]
    rows = []
    for v in summary["variance"]:
        taus = ", ".join(f"e{e}: {_f(t['mean'])}" + _std(t["std"]) for e, t in v["tau_per_epoch"].items())
        rows.append(
            [
                v["evaluator"],
                taus or "– (no supernet)",
                f"{v['top1_seed_pairs_changed']}/{v['seed_pairs']} ({v['top1_distinct_over_seeds']} distinct)",
                f"{v['top1_epoch_changes']}/{v['epoch_transitions']}" if v["epoch_transitions"] else "–",
            ]
        )
    return _table(header, rows)


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    ks, dataset = meta["top_k"], meta["truth_dataset"]
    return "\n\n".join(
        [
            "# Evaluator ranking and weight-sharing variance",
            f"{meta['num_archs']} NB201 architectures (numpy default_rng({meta['arch_seed']})), supernet seeds "
            f"{meta['seeds']}, truth: NB201 {dataset} {meta['truth_split']} accuracy (200 epochs). "
            f"Supernet: {meta['supernet_size']}.",
            "## Agreement with the NB201 truth (final supernet)",
            main_table(summary, ks),
            "## GeNAS poster pairs (Kendall τ between search metrics on NB201)",
            genas_table(summary, dataset),
            "## Pairwise Kendall τ-b",
            matrix_table(summary),
            "## Weight-sharing variance",
            variance_table(summary),
        ]
    )


def scores_csv(result: StudyResult, space: SearchSpace) -> str:
    """Long format: one row per (architecture, seed, epoch, evaluator); epoch empty for supernet-free evaluators."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["arch", "truth", "seed", "epoch", "evaluator", "score"])
    for (seed, epoch, name), column in result.scores.items():
        for arch, truth, score in zip(result.archs, result.truth, column, strict=True):
            w.writerow([space.format(arch), truth, seed, "" if epoch is None else epoch, name, repr(score)])
    return buf.getvalue()


def write_all(run_dir: Path, result: StudyResult, summary: dict[str, Any], meta: dict[str, Any], space: Any) -> str:
    """Write every output file; returns the Markdown text."""
    text = markdown(summary, meta)
    write_atomic(run_dir / "evaluators.md", text + "\n")
    write_atomic(run_dir / "evaluators.csv", scores_csv(result, space))
    payload = {**meta, "archs": [space.format(a) for a in result.archs], "truth": result.truth, **summary}
    payload.update(timings=result.timings, supernet=result.supernet)
    write_atomic(run_dir / "evaluators.json", json.dumps(payload, indent=2, default=str))
    plots(run_dir, result, summary)
    return text


def plots(run_dir: Path, result: StudyResult, summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = evaluator_names(result)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        for seed in result.seeds:
            ax.scatter(result.truth, result.scores[final_key(result, seed, name)], s=6, alpha=0.6, label=f"seed {seed}")
        ax.set(title=name, xlabel="NB201 truth (%)", ylabel="score")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run_dir / "scatter.png", dpi=120)
    plt.close(fig)

    m = summary["tau_matrix"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(m["names"]), 0.6 + 0.8 * len(m["names"])))
    im = ax.imshow(m["mean"], vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(m["names"])), m["names"], rotation=45, ha="right")
    ax.set_yticks(range(len(m["names"])), m["names"])
    for i, row in enumerate(m["mean"]):
        for j, v in enumerate(row):
            ax.text(j, i, _f(v, 2), ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="Kendall τ-b")
    fig.tight_layout()
    fig.savefig(run_dir / "tau_matrix.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for row in summary["per_run"]:
        x = row["epoch"] if row["epoch"] is not None else (result.final_epoch or 0)
        ax.scatter(x, row["kendall_tau"], s=14, color=f"C{names.index(row['evaluator'])}")
    for name in names:
        ax.plot([], [], "o", color=f"C{names.index(name)}", label=name)
    ax.set(xlabel="supernet epoch (supernet-free evaluators at the final one)", ylabel="τ-b vs truth")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run_dir / "tau_per_seed_epoch.png", dpi=120)
    plt.close(fig)


def _sources(sizes: list[dict[str, Any]]) -> str:
    reused = [s["source"] for s in sizes if not s["source"].startswith("trained here")]
    return f"reused from {', '.join(reused)}" if reused else "trained here (no supernet_from)"


def report(study: Study, result: StudyResult, run_dir: Path) -> str:
    """Summarize ``result`` and write every file into ``run_dir``; returns the Markdown printed to stdout."""
    c = study.config
    sizes = list(result.supernet["per_seed"].values())
    meta = {
        "num_archs": c.num_archs,
        "arch_seed": study.arch_seed,
        "seeds": result.seeds,
        "evaluators": c.evaluators,
        "truth_dataset": study.truth_dataset,
        "truth_split": c.truth_split,
        "top_k": c.top_k,
        "epochs_to_compare": c.epochs_to_compare,
        "supernet_size": f"{describe_size(sizes[0])}; {_sources(sizes)}" if sizes else "none (no evaluator uses one)",
        "dataset": study.data.name,
        "config": study.tracker.config,
    }
    summary = summarize(result, c.top_k, study.truth_dataset)
    return write_all(run_dir, result, summary, meta, study.space)
