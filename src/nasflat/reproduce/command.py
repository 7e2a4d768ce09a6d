"""`nasflat reproduce TABLE scale=smoke|cpu|paper [key=value ...]` and `nasflat reproduce --list`.

Runs (or resumes) the table's multiruns, then prints ours next to the published numbers and writes
``report.md``, ``report.csv``, ``report.json`` and the plots to ``<out_root>/reproduce/<table>/<scale>/``.
Every other ``key=value`` goes to each ``nasflat search`` run (``hardware=gpu``, ``hydra/launcher=...``, data paths).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasflat.report import find_results
from nasflat.reproduce import compare
from nasflat.reproduce.run import (
    ReproduceError,
    ReproduceInterrupted,
    Sweep,
    check_table_file,
    out_dir,
    override_value,
    preflight,
    run,
    sweeps,
)
from nasflat.reproduce.tables import REPRO_TABLES, SCALES, ReproTable, repro_table

USAGE = """usage: nasflat reproduce TABLE [scale=smoke|cpu|paper] [seeds=0,1,2] [key=value ...]
                         [--dry-run] [--report-only]
       nasflat reproduce --list

  scale=smoke   seconds, tiny networks (the tests); scale=cpu the reduced protocol of docs/reproduce.md;
                scale=paper (the default) the official protocol
  --dry-run     print the multiruns and stop;  --report-only  compare the runs already there, run nothing
"""


def listing() -> str:
    """Every runnable table with its methods, cost per scale and sources; then the published-only tables."""
    from nasflat.reproduce.published import published_tables

    out = []
    for t in REPRO_TABLES.values():
        out.append(f"{t.name}: {t.heading()}")
        out.append(f"  methods: {', '.join(m.name for m in t.methods)}; search data: {', '.join(t.datasets)}")
        for name, s in t.scales.items():
            out.append(f"  scale={name}: {len(s.seeds)} seed(s); {s.cost}")
        cites = dict.fromkeys(r.source.citation for m in t.methods for r in compare.published_rows(t, m.name))
        out.append("  sources: " + ("; ".join(cites) or "none (no published numbers)"))
    only = {k: v for k, v in published_tables().items() if k not in REPRO_TABLES}
    out.append("\npublished numbers only (no runnable protocol yet; docs/published.md):")
    out += [f"  {k}: {v.title}" for k, v in only.items()]
    return "\n".join(out)


def _parse(args: Sequence[str]) -> tuple[str, str, tuple[int, ...] | None, list[str], set[str]]:
    """TABLE, scale, seeds, the overrides passed through, and the --flags."""
    flags = {a for a in args if a.startswith("--")}
    if unknown := flags - {"--dry-run", "--report-only"}:
        raise ReproduceError(f"unknown option {sorted(unknown)[0]}\n\n{USAGE}")
    words = [a for a in args if not a.startswith("--")]
    if not words or "=" in words[0]:
        raise ReproduceError(f"name a table (nasflat reproduce --list shows them)\n\n{USAGE}")
    table, rest = words[0], words[1:]
    scale = str(override_value(rest, "scale", "paper"))
    if scale not in SCALES:
        raise ReproduceError(f"scale={scale}: expected one of {', '.join(SCALES)}")
    seeds = override_value(rest, "seeds")
    try:
        parsed = None if seeds is None else tuple(int(s) for s in seeds.split(","))
    except ValueError:
        raise ReproduceError(f"seeds={seeds}: expected integers separated by commas, e.g. seeds=0,1,2") from None
    if bad := [a for a in rest if "=" not in a]:
        raise ReproduceError(f"{bad[0]!r} is not key=value; only the table's name stands alone\n\n{USAGE}")
    overrides = [a for a in rest if not a.startswith(("scale=", "seeds="))]
    return table, scale, parsed, overrides, flags


def collect(sweeps_: Sequence[Sweep]) -> dict[str, list[dict[str, Any]]]:
    """Each method's finished runs (results.json) among this sweep's run directories."""
    out: dict[str, list[dict[str, Any]]] = {}
    for sw in sweeps_:
        files = [d / "results.json" for d in sw.run_dirs() if (d / "results.json").is_file()]
        out[sw.method] = find_results(files)
    return out


def write_report(table: ReproTable, scale: str, sweeps_: Sequence[Sweep], out: Path) -> tuple[str, list[Path]]:
    """Compare, print-ready text and the files written (report.md/.csv/.json and the plots)."""
    from nasflat.report import write_plots

    results = collect(sweeps_)
    rows = compare.lines(table, scale, results)
    missing = [f"{sw.method}: {d.name}" for sw in sweeps_ for d in sw.run_dirs() if not (d / "results.json").is_file()]
    text = _text(table, scale, rows, missing)
    context = compare.context_rows(table)
    out.mkdir(parents=True, exist_ok=True)
    extra = (
        ""
        if not context
        else "\n## Published rows of methods not run here\n\n"
        + compare.markdown(
            [compare.Line(r.method, r.dataset, r.metric, r, None, "not run by nasflat") for r in context]
        )
    )
    (out / "report.md").write_text(text + "\n## Runs\n\n" + runs_markdown(results) + extra)
    with open(out / "report.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "dataset", "metric", "published_mean", "published_std", "published_n", "ours_mean",
                    "ours_std", "ours_n", "delta", "verdict", "band", "source"])  # fmt: skip
        for ln in rows:
            p, o = ln.published, ln.ours
            w.writerow([ln.method, ln.dataset, ln.metric, *(("", "", "") if p is None else (p.mean, p.std, p.n)),
                        *(("", "", "") if o is None else (o.mean, o.std, o.n)), ln.delta, ln.verdict, ln.band,
                        "" if p is None else p.source.citation])  # fmt: skip
    payload = {"table": table.name, "scale": scale, "missing_runs": missing, "deviations": list(table.deviations)}
    payload["lines"] = [_line_json(ln) for ln in rows]
    (out / "report.json").write_text(json.dumps(payload, indent=1))
    flat = [r for runs in results.values() for r in runs]
    plots = write_plots(flat, out) if flat else []
    return text, [out / "report.md", out / "report.csv", out / "report.json", *plots]


def runs_markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    """One row per run: its architecture, parameter-free ops, NB201 test accuracies and wall time."""
    from nasflat.spaces.nb201.codec import DATASETS

    head = ["method", "seed", "search data", "architecture", "param-free ops", *(f"{d} test" for d in DATASETS)]
    out = ["| " + " | ".join([*head, "search s"]) + " |", "|" + "---|" * (len(head) + 1)]
    for method, runs in results.items():
        for r in sorted(runs, key=lambda r: (str(r.get("dataset")), r.get("seed", 0))):
            bench = r.get("benchmark") or {}
            accs = [f"{bench[d]['test']:.2f}" if d in bench else "" for d in DATASETS]
            free = (r.get("arch_summary") or {}).get("param_free_ops", "")
            wall = (r.get("search") or {}).get("wall_time_s")
            cells = [
                method,
                str(r.get("seed")),
                str(r.get("dataset")),
                "`" + str(r.get("arch")).replace("|", "\\|") + "`",
                str(free),
                *accs,
            ]
            out.append("| " + " | ".join([*cells, "" if wall is None else f"{wall:.0f}"]) + " |")
    return "\n".join(out) + "\n"


def _line_json(ln: compare.Line) -> dict[str, Any]:
    pub = None if ln.published is None else dataclasses.asdict(ln.published)
    ours = None if ln.ours is None else dataclasses.asdict(ln.ours)
    return {"method": ln.method, "dataset": ln.dataset, "metric": ln.metric, "published": pub, "ours": ours,
            "delta": ln.delta, "verdict": ln.verdict, "band": ln.band}  # fmt: skip


def _text(table: ReproTable, scale: str, rows: Sequence[compare.Line], missing: Sequence[str]) -> str:
    head = f"# nasflat reproduce {table.name} scale={scale}\n\n{table.heading()}\n\n"
    notes = [f"- protocol deviation: {d}" for d in table.deviations]
    if missing:
        notes.append(f"- runs without results yet ({len(missing)}): {', '.join(missing[:12])}")
    return head + compare.markdown(rows) + ("\n" + "\n".join(notes) + "\n" if notes else "")


def main(argv: Sequence[str]) -> None:
    """Entry point of `nasflat reproduce`; bad input exits 2 before any work, naming what to change."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    if "--list" in argv:
        print(listing())
        return
    try:
        name, scale, seeds, overrides, flags = _parse(argv)
        table = repro_table(name)
        planned = sweeps(table, scale, overrides, seeds)
        if "--dry-run" in flags:
            print("\n".join(shlex.join(["nasflat", "search", "-m", *sw.overrides]) for sw in planned))
            return
        if "--report-only" not in flags:
            check_table_file(table, overrides)
            preflight(planned)
            run(planned)
        text, files = write_report(table, scale, planned, out_dir(table, scale, overrides))
    except ReproduceInterrupted as e:
        print(str(e), file=sys.stderr)
        sys.exit(130)
    except (ReproduceError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(text)
    print("wrote " + ", ".join(str(p) for p in files))
