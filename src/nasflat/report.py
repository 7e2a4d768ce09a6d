"""`nasflat report PATH...`: aggregate every results.json under run/sweep directories into a paper-style table.

Rows group runs by (space, algorithm, evaluator, search dataset); columns are mean ± std over seeds (with n) of
the NB201 valid/test accuracies on all three datasets, the derived cell's width and depth (Shu et al. 2020), the
retrained test accuracy and the search cost.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nasflat.spaces.nb201.codec import DATASET_LABELS

NB201 = tuple(DATASET_LABELS.items())  # (dataset, column label)


def find_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every results.json under the given files/directories (deduplicated, sorted by path)."""
    files: set[Path] = set()
    for p in map(Path, paths):
        if p.is_file():
            files.add(p.resolve())
        elif p.is_dir():
            files.update(f.resolve() for f in p.rglob("results.json"))
        else:
            raise FileNotFoundError(f"{p} does not exist")
    return [json.loads(f.read_text()) | {"_path": str(f)} for f in sorted(files)]


def _evaluator(r: dict[str, Any]) -> str:
    ev = (r.get("search") or {}).get("evaluator") or {}
    if not ev:
        return "-"
    extra = ",".join(f"{k}={ev[k]}" for k in ("dataset", "split", "metric") if k in ev)
    return f"{ev.get('name', '?')}({extra})" if extra else str(ev.get("name", "?"))


def _fmt(values: Sequence[float], scale: float = 1.0, spec: str = ".2f") -> str:
    """mean±std (sample std; 0 for one run); costs use 3 significant digits (``spec=".3g"``)."""
    if not values:
        return ""
    xs = [v * scale for v in values]
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.fmean(xs):{spec}}±{sd:{spec}}"


def algo_label(r: dict[str, Any]) -> str:
    """The algorithm with its modifiers (``darts+beta_darts``), so β-DARTS runs do not pool with DARTS's."""
    modifiers = (r.get("search") or {}).get("modifiers") or []
    return "+".join([str(r.get("algo")), *map(str, modifiers)])


def group_key(r: dict[str, Any]) -> tuple[str, str, str, str]:
    """Runs that differ only in their seed share a row: (space, algorithm + modifiers, evaluator, search dataset)."""
    return (str(r.get("space", "?")), algo_label(r), _evaluator(r), str(r.get("dataset", "?")))


def table(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the aggregated table."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[group_key(r)].append(r)
    header = ["space", "algo", "evaluator", "search data", "n"]
    header += [f"{short} {s}" for _, short in NB201 for s in ("valid", "test")]
    header += ["width", "depth"]  # Shu et al.'s cell topology of the derived arch (DARTS: normal cell)
    header += ["retrain test", "search h", "search GPU-h"]
    rows = []
    for key, runs in sorted(groups.items()):
        row = [*key, str(len(runs))]
        for ds, _ in NB201:
            for split in ("valid", "test"):
                row.append(_fmt([r["benchmark"][ds][split] for r in runs if r.get("benchmark")]))
        for key in ("width", "depth"):
            row.append(_fmt([t[key] for r in runs if (t := (r.get("arch_summary") or {}).get("topology"))]))
        row.append(_fmt([r["retrain"]["test_acc"] for r in runs if r.get("retrain")], 100))
        hours = [r["search"]["wall_time_s"] / 3600 for r in runs if r.get("search")]
        row.append(_fmt(hours, spec=".3g"))
        searched = [r for r in runs if r.get("search")]
        gpus = [r["search"]["wall_time_s"] / 3600 * r.get("hardware", {}).get("gpus", 0) for r in searched]
        row.append(_fmt(gpus, spec=".3g") if any(gpus) else "0")
        rows.append(row)
    return header, rows


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="nasflat report", description=__doc__)
    ap.add_argument("paths", nargs="+", help="run or sweep directories (searched recursively for results.json)")
    ap.add_argument("--out", default=None, help="directory for report.md, report.csv and plots (default: first path)")
    ap.add_argument("--no-plots", action="store_true", help="tables only (no PNG figures)")
    args = ap.parse_args(argv)
    try:
        results = find_results(args.paths)
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}") from None
    if not results:
        raise SystemExit(f"error: no results.json under {', '.join(args.paths)} (runs write it when they finish)")
    header, rows = table(results)
    text = markdown(header, rows)
    print(text, end="")
    out = Path(args.out or (args.paths[0] if Path(args.paths[0]).is_dir() else Path(args.paths[0]).parent))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    with open(out / "report.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    written = [out / "report.md", out / "report.csv"]
    if not args.no_plots:
        written += write_plots(results, out)
    print(f"\n{len(results)} runs; wrote " + ", ".join(str(p) for p in written))


def write_plots(results: list[dict[str, Any]], out: Path) -> list[Path]:
    """accuracy_vs_cost.png and, for differentiable searches, derived_arch_by_epoch.png (with a benchmark table) and
    alpha_curvature_by_epoch.png (with α-Hessian tracking)."""
    from nasflat import plots

    labels = plots.group_labels(results, group_key)
    made = [
        plots.plot_accuracy_vs_cost(results, labels, out / "accuracy_vs_cost.png"),
        plots.plot_epoch_curves(results, labels, out / "derived_arch_by_epoch.png"),
        plots.plot_alpha_curvature(results, labels, out / "alpha_curvature_by_epoch.png"),
    ]
    return [p for p in made if p is not None]
