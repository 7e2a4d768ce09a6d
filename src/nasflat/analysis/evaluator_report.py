"""Tables of an evaluator study (:class:`nasflat.analysis.evaluators.StudyResult`) as one JSON-able summary.

Every number here comes from :mod:`nasflat.analysis.rank_study`; files and figures are written by
:mod:`nasflat.analysis.evaluator_files`.
docs/analysis.md#evaluator-ranking-and-weight-sharing-variance-analyze-evaluators
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nasflat.analysis.evaluators import StudyResult
from nasflat.analysis.rank_study import (
    consecutive_changes,
    mean_std,
    pair_changes,
    pairwise_tau,
    top1,
    truth_agreement,
)

# GeNAS (IJCAI 2023) poster: Kendall τ between search metrics on NB201 (GeNAS's own NB201 supernet; not released)
GENAS_POSTER: dict[tuple[str, str], tuple[str, dict[str, float]]] = {
    ("angle", "flatness"): ("Angle & Flatness", {"cifar10": 0.430, "cifar100": 0.472, "imagenet16_120": 0.410}),
    ("supernet", "flatness"): ("Accuracy & Flatness", {"cifar10": 0.792, "cifar100": 0.757, "imagenet16_120": 0.762}),
}
PAPER_SUPERNET = {"C": 16, "N": 5, "epochs": 250, "search_train_images": 25000}  # GeNAS/SPOS NB201 port (§4.4)
TRUTH = "truth"


def evaluator_names(result: StudyResult) -> list[str]:
    return list(dict.fromkeys(name for _, _, name in result.scores))


def final_key(result: StudyResult, seed: int, name: str) -> tuple[int, int | None, str]:
    """The key of ``name``'s scores with the final supernet of ``seed`` (None epoch for supernet-free evaluators)."""
    return (seed, result.final_epoch, name) if (seed, result.final_epoch, name) in result.scores else (seed, None, name)


def epochs_of(result: StudyResult, name: str) -> list[int]:
    return sorted({e for _, e, n in result.scores if n == name and e is not None})


def per_run_rows(result: StudyResult, ks: Sequence[int]) -> list[dict[str, Any]]:
    """One row per (evaluator, seed, epoch): agreement with the truth."""
    rows = []
    for (seed, epoch, name), score in result.scores.items():
        rows.append({"evaluator": name, "seed": seed, "epoch": epoch, **truth_agreement(score, result.truth, ks)})
    return rows


def truth_table(result: StudyResult, ks: Sequence[int]) -> list[dict[str, Any]]:
    """Per evaluator, final supernet: mean and sample std over seeds of τ, ρ and top-k precision; drops summed."""
    rows = []
    for name in evaluator_names(result):
        per_seed = [truth_agreement(result.scores[final_key(result, s, name)], result.truth, ks) for s in result.seeds]
        row: dict[str, Any] = {"evaluator": name, "seeds": len(per_seed), "n": per_seed[0]["n"]}
        row["dropped"] = sum(r["dropped"] for r in per_seed)
        for stat in ["kendall_tau", "spearman_rho", *(f"top{k}_precision" for k in ks)]:
            row[stat], row[f"{stat}_std"] = mean_std([r.get(stat, float("nan")) for r in per_seed])
        rows.append(row)
    return rows


def tau_matrices(result: StudyResult) -> dict[str, Any]:
    """Pairwise τ between evaluators and the truth, final supernet: mean and std over seeds."""
    mats = []
    for seed in result.seeds:
        columns = {n: result.scores[final_key(result, seed, n)] for n in evaluator_names(result)}
        names, m = pairwise_tau({**columns, TRUTH: result.truth})
        mats.append(m)
    stack = np.stack(mats)
    std = stack.std(axis=0, ddof=1) if len(mats) > 1 else np.full_like(stack[0], np.nan)
    return {"names": names, "mean": np.nanmean(stack, axis=0).tolist(), "std": std.tolist(), "per_seed": stack.tolist()}


def genas_rows(matrices: dict[str, Any], dataset: str, paper_scale: bool) -> list[dict[str, Any]]:
    """The GeNAS poster's pairs measured here, next to the published value of the same dataset."""
    names, rows = matrices["names"], []
    for (a, b), (label, published) in GENAS_POSTER.items():
        if a in names and b in names:
            i, j = names.index(a), names.index(b)
            rows.append(
                {
                    "pair": label,
                    "evaluators": f"{a} vs {b}",
                    "tau": matrices["mean"][i][j],
                    "tau_std": matrices["std"][i][j],
                    "published": published.get(dataset),
                    "scale": "paper scale" if paper_scale else "DIFFERENT SCALE (CPU supernet, not the paper's)",
                }
            )
    return rows


def variance_rows(result: StudyResult) -> list[dict[str, Any]]:
    """Per evaluator: τ per epoch over seeds, how often the top-1 differs between seeds and between epochs."""
    rows = []
    for name in evaluator_names(result):
        tops = [top1(result.scores[final_key(result, s, name)]) for s in result.seeds]
        seed_changed, seed_pairs = pair_changes(tops)
        epochs = epochs_of(result, name)
        epoch_changed = epoch_steps = 0
        for s in result.seeds:
            changed, steps = consecutive_changes([top1(result.scores[(s, e, name)]) for e in epochs])
            epoch_changed, epoch_steps = epoch_changed + changed, epoch_steps + steps
        taus = {
            e: mean_std(
                [truth_agreement(result.scores[(s, e, name)], result.truth, ())["kendall_tau"] for s in result.seeds]
            )
            for e in epochs
        }
        rows.append(
            {
                "evaluator": name,
                "top1_distinct_over_seeds": len(set(tops)),
                "top1_seed_pairs_changed": seed_changed,
                "seed_pairs": seed_pairs,
                "top1_epoch_changes": epoch_changed,
                "epoch_transitions": epoch_steps,
                "top1_truth": [result.truth[t] if t is not None else None for t in tops],
                "tau_per_epoch": {str(e): {"mean": m, "std": sd} for e, (m, sd) in taus.items()},
            }
        )
    return rows


def is_paper_scale(supernet: dict[str, Any]) -> bool:
    """Whether every seed's supernet has the paper's size (C, N, epochs, search-train images)."""
    seeds = supernet.get("per_seed", {}).values()
    return bool(seeds) and all(all(s.get(k) == v for k, v in PAPER_SUPERNET.items()) for s in seeds)


def summarize(result: StudyResult, ks: Sequence[int], dataset: str) -> dict[str, Any]:
    matrices = tau_matrices(result)
    paper = is_paper_scale(result.supernet)
    return {
        "truth_table": truth_table(result, ks),
        "tau_matrix": matrices,
        "genas": genas_rows(matrices, dataset, paper),
        "variance": variance_rows(result),
        "per_run": per_run_rows(result, ks),
        "paper_scale": paper,
    }
