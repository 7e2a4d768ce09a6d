"""Files of `analyze landscape`: landscape.md (tables), landscape.csv (one row per architecture), landscape.json
(everything) and the PNG figures; ``main_table`` is what the command prints."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasflat.analysis import landscape_plots as plots
from nasflat.analysis.landscape_generalization import DATASETS


def _f(x: Any, spec: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:{spec}}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows]) + "\n"


def main_table(res: dict[str, Any]) -> str:
    """Radius curves: mean ± std of the metric at distance exactly r (r = 0 is the architecture itself)."""
    radii = res["settings"]["radii"]
    header = ["model", "index", "r=0", *(f"r={r} mean±std (n)" for r in radii)]
    rows = []
    for ref in res["references"]:
        c = ref["curve"]
        cells = [f"{_f(c['mean'][i])}±{_f(c['std'][i])} ({int(c['count'][i])})" for i in range(1, len(radii) + 1)]
        rows.append([ref["label"], ref["arch_index"], _f(c["mean"][0]), *cells])
    return f"Radius curves, {res['metric']} accuracy (%):\n\n" + _table(header, rows)


def _barrier_rows(items: Sequence[dict[str, Any]], first: str | None = None) -> list[list[Any]]:
    return [
        [*([b[first]] if first else []), b["a_index"], b["b_index"], b["distance"], _f(b["barrier"]),
         _f(b["a2m_barrier"]), " → ".join(map(str, b["path_indices"]))]
        for b in items
    ]  # fmt: skip


def _generalization(res: dict[str, Any]) -> str:
    gen = res["generalization"]
    ks = [k for k in res["settings"]["precision_k"] if any(f"top{k}_precision" in g for g in gen)]
    same = [g for g in gen if g["select"] == g["target"]]
    header = ["dataset", "criterion", "τ", "ρ", *(f"top-{k} prec." for k in ks), "chosen test", "best test"]
    rows = [
        [g["target"], g["criterion"], _f(g["kendall_tau"], ".4f"), _f(g["spearman_rho"], ".4f"),
         *(_f(g[f"top{k}_precision"], ".2f") for k in ks), _f(g["chosen_test"]), _f(g["best_test"])]
        for g in same
    ]  # fmt: skip
    text = "### Same dataset: valid-based criterion vs test accuracy\n\n" + _table(header, rows)
    for crit in dict.fromkeys(g["criterion"] for g in gen):
        for key, spec, what in (("kendall_tau", ".4f", "Kendall τ"), ("chosen_test", ".2f", "test acc. of the pick")):
            cell = {(g["select"], g["target"]): _f(g[key], spec) for g in gen if g["criterion"] == crit}
            rows = [[s, *(cell[(s, t)] for t in DATASETS)] for s in DATASETS]
            text += f"\n### {what}: {crit} on the row's valid split → column's test split\n\n"
            text += _table(["select \\ target", *DATASETS], rows)
    return text


def markdown(res: dict[str, Any]) -> str:
    pop, st = res["population"], res["settings"]
    text = f"# Architecture-space landscape: {res['metric']}\n\nTable: `{res['table']}`; dedup={st['dedup']}.\n\n"
    text += f"Whole table: mean {_f(pop['mean'])}, std {_f(pop['std'])}, min {_f(pop['min'])}, max {_f(pop['max'])}, "
    text += f"n={pop['count']}.\n\n## Neighborhoods\n\n"
    rows = [[r, v["neighbors_full_space"], _f(v["mean_count"], ".1f"), _f(v["mean_of_means"]), _f(v["mean_of_stds"]),
             _f(v["kendall_tau_own_vs_mean"], ".4f")] for r, v in res["neighborhoods"].items()]  # fmt: skip
    text += _table(["r", "C(6,r)·4^r", "mean count", "mean of means", "mean of stds", "τ(own, mean)"], rows)
    text += "\n## " + main_table(res)
    c = res["clustering"]
    text += f"\n## Clustering of the top {c['q_percent']:g} % ({c['size']} architectures)\n\n"
    text += _table(["", *map(str, range(len(c["all_pairs_by_distance"]))), "mean"], [
        ["top pairs", *c["top_pairs_by_distance"], _f(c["mean_distance_top"])],
        ["all pairs", *c["all_pairs_by_distance"], _f(c["mean_distance_all"])],
    ])  # fmt: skip
    near = c["fraction_with_top_neighbor"]
    rows = [[r, _f(v, ".3f"), _f(c["fraction_with_top_neighbor_random"][r], ".3f")] for r, v in near.items()]
    text += "\n" + _table(["r", "top archs with a top arch within r", "expected for a random subset"], rows)
    head = ["a", "b", "distance", "barrier", "a2m_barrier", "minimax path (indices)"]
    text += f"\n## Barriers between the top-{st['top_k']} architectures\n\n"
    text += _table(head, _barrier_rows(res["barriers_top_k"]))
    text += "\n## Barriers between A²M's pairs\n\n" + _table(
        ["quality", *head], _barrier_rows(res["barriers_a2m_pairs"], "quality")
    )
    text += "\n## Does flatness generalize?\n\n" + _generalization(res)
    rows = [
        [c["feature"], _f(c["kendall_tau"], ".4f"), _f(c["spearman_rho"], ".4f")]
        for c in res["topology"]["correlations"]
    ]
    text += "\n## Cell topology (Shu et al. 2020) vs the metric\n\n" + _table(["feature", "τ", "ρ"], rows)
    rows = [[g["feature"], _f(g["value"], "g"), g["count"], _f(g["mean"])] for g in res["topology"]["groups"]]
    return text + "\n" + _table(["feature", "value", "count", "mean metric"], rows)


def write_csv(path: Path, table: Any, arrays: dict[str, Any]) -> Path:
    stats = ("mean", "std", "min", "max", "count")
    per = arrays["per_radius"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_index", "arch", "value", "width", "depth", *(f"r{r}_{k}" for r in per for k in stats)])
        for i, a in enumerate(table.archs):
            cells = [_num(per[r][k][i]) for r in per for k in stats]
            w.writerow([int(table.arch_index[i]), str(a), _num(arrays["value"][i]), _num(arrays["width"][i]),
                        _num(arrays["depth"][i]), *cells])  # fmt: skip
    return path


def _num(x: Any) -> str:
    x = float(x)
    return "" if math.isnan(x) else f"{x:.6g}"


def _json_ready(x: Any) -> Any:
    """Plain JSON: numpy scalars to Python numbers, NaN (an undefined value, e.g. A²M's barrier at d <= 1) to null."""
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_ready(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and math.isnan(x) else x


def write_all(out: Path, res: dict[str, Any], table: Any, arrays: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    md = out / "landscape.md"
    md.write_text(markdown(res))
    js = out / "landscape.json"
    js.write_text(json.dumps(_json_ready(res), indent=2, allow_nan=False))
    written = [md, write_csv(out / "landscape.csv", table, arrays), js]
    metric = f"{res['metric']} accuracy (%)"
    radii, refs = res["settings"]["radii"], res["references"]
    population = np.asarray(arrays["population"])
    if refs:
        for i, r in enumerate(radii):
            written.append(plots.neighbor_histograms(population, refs, arrays["samples"], i, r, metric,
                                                     out / f"neighbors_r{r}.png", res["settings"]["bins"]))  # fmt: skip
        written.append(plots.radius_curves(refs, radii, metric, out / "radius_curves.png"))
    c = res["clustering"]
    top, every = np.array(c["top_pairs_by_distance"]), np.array(c["all_pairs_by_distance"])
    label = f"top {c['q_percent']:g} % pairs"
    written.append(plots.clustering_histogram(top, every, label, out / "clustering.png"))
    return written
