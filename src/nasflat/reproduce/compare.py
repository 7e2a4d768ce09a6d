"""Ours next to published: mean ± std (n) of each method's runs, the published number, the difference, a verdict.

Verdict (docs/reproduce.md#verdicts), for a number both sides have:
- at ``scale=smoke|cpu``: ``not comparable: scale=<scale>`` (a reduced protocol cannot be held to the paper's);
- search cost: ``not comparable: hardware`` (other machines, other code);
- at ``scale=paper``: ``within the published spread`` when |ours - published| <= 2 * sqrt(s_p^2 / n_p + s_o^2 / n_o),
  the two-standard-error band of a difference of means (a published n that is not given counts as 1; with one run
  of ours, s_o is taken to be s_p; the band is never narrower than 0.005, half the last printed digit), else
  ``outside``; ``no published spread`` when the source gives no std.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nasflat.reproduce.published import Published
from nasflat.reproduce.tables import ReproTable
from nasflat.spaces.nb201.codec import DATASETS

FLOOR = 0.005  # half the last digit that papers print (two decimals)
WITHIN, OUTSIDE = "within the published spread", "outside"


@dataclass(frozen=True)
class Stats:
    """Mean and sample std (0 for one run) of n values."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))


@dataclass(frozen=True)
class Line:
    """One (method, dataset, metric) of the report."""

    method: str
    dataset: str
    metric: str
    published: Published | None
    ours: Stats | None
    verdict: str
    band: float | None = None  # the half-width the verdict used (scale=paper)

    @property
    def delta(self) -> float | None:
        return None if self.ours is None or self.published is None else self.ours.mean - self.published.mean


def run_values(
    r: Mapping[str, Any], per_dataset_search: bool, stand_in: Mapping[str, str] | None = None
) -> dict[tuple[str, str], float]:
    """The numbers one results.json gives: NB201 valid/test accuracy per dataset, search wall time (s) under the
    search dataset (or the table's dataset it stands in for at a small scale: digits for CIFAR-10)."""
    out: dict[tuple[str, str], float] = {}
    for d in DATASETS:
        entry = (r.get("benchmark") or {}).get(d)
        if entry and (not per_dataset_search or r.get("dataset") == d):
            out[(d, "valid_acc")], out[(d, "test_acc")] = float(entry["valid"]), float(entry["test"])
    if search := r.get("search"):
        searched = str(r.get("dataset"))
        out[((stand_in or {}).get(searched, searched), "search_cost_s")] = float(search["wall_time_s"])
    return out


def ours(
    results: Mapping[str, Sequence[Mapping[str, Any]]], table: ReproTable, scale: str
) -> dict[tuple[str, str, str], Stats]:
    """Per (method, dataset, metric): the statistics over that method's runs."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    stand_in = dict(zip(table.scales[scale].datasets or (), table.datasets))
    for method, runs in results.items():
        for r in runs:
            for (d, metric), v in run_values(r, table.per_dataset_search, stand_in).items():
                values[(method, d, metric)].append(v)
    return {k: Stats.of(v) for k, v in values.items()}


def verdict(mine: Stats | None, pub: Published | None, metric: str, scale: str) -> tuple[str, float | None]:
    """The verdict of one line and the band it used (module docstring)."""
    if pub is None:
        return "no published number", None
    if mine is None:
        return "not run", None
    if metric.startswith("search_cost"):
        return "not comparable: hardware", None
    if scale != "paper":
        return f"not comparable: scale={scale}", None
    if pub.std is None:
        return "no published spread", None
    s_ours = mine.std if mine.n > 1 else pub.std
    band = max(2 * math.sqrt(pub.std**2 / (pub.n or 1) + s_ours**2 / mine.n), FLOOR)
    return (WITHIN if abs(mine.mean - pub.mean) <= band else OUTSIDE), band


def published_rows(table: ReproTable, method: str) -> list[Published]:
    """The method's rows from the first of the table's published tables that has the method."""
    for pt in table.published_tables():
        if rows := pt.rows_for(method):
            return rows
    return []


def lines(table: ReproTable, scale: str, results: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Line]:
    """Every published number of the table's methods next to ours, then ours that have no published number."""
    mine = ours(results, table, scale)
    out, seen = [], set()
    for m in table.methods:
        for pub in published_rows(table, m.name):
            key = (m.name, pub.dataset, pub.metric)
            seen.add(key)
            v, band = verdict(mine.get(key), pub, pub.metric, scale)
            out.append(Line(m.name, pub.dataset, pub.metric, pub, mine.get(key), v, band))
    for key in sorted(set(mine) - seen, key=lambda k: ([m.name for m in table.methods].index(k[0]), k[1:])):
        out.append(Line(*key, None, mine[key], "no published number"))
    return out


def context_rows(table: ReproTable) -> list[Published]:
    """Published rows of methods nasflat does not run in this table (ENAS, SETN, the optimum, ...)."""
    ran = {m.name for m in table.methods}
    first = table.published_tables()[0]
    return [r for r in first.rows if r.method not in ran]


def _num(x: float | None, spec: str = ".2f") -> str:
    return "" if x is None else f"{x:{spec}}"


def _stats(mean: float, std: float | None, n: int | None) -> str:
    text = f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"
    return text + ("" if n is None else f" (n={n})")


def markdown(rows: Sequence[Line]) -> str:
    """The comparison table in Markdown (what the console prints, and report.md)."""
    head = "| method | dataset | metric | published | ours | ours - published | verdict | source |"
    out = [head, "|---|---|---|---|---|---|---|---|"]
    for ln in rows:
        pub = ln.published
        cells = [
            ln.method,
            ln.dataset,
            ln.metric,
            "—" if pub is None else _stats(pub.mean, pub.std, pub.n),
            "—" if ln.ours is None else _stats(ln.ours.mean, ln.ours.std, ln.ours.n),
            _num(ln.delta, "+.2f"),
            ln.verdict,
            "" if pub is None else pub.source.citation + ("" if pub.source.verified else " (not verified)"),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
