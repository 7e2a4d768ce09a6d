#!/usr/bin/env python3
"""RS vs NA-RS and REA vs NA-REA on the NB201 table: mean ± std over seeds of the selected architecture's test accuracy.

Search signal: the table's CIFAR-10 valid accuracy (the `cifar10-valid` run, 200 epochs), either exact ("clean") or
plus Gaussian noise of ``--noise-std`` points fixed per (seed, arch) ("noisy": a stand-in for a cheap proxy, such as
a supernet or a few-epoch training, whose ranking of good architectures is unreliable; the table has no per-seed
or 12-epoch columns to draw real noise from). Budgets are counted two ways:

* candidates: every algorithm scores B candidates; NA-* aggregate each over its centre + all 24 one-hop neighbors,
  so they use up to 25 B table lookups;
* evaluations: every algorithm may make B lookups; NA-* aggregate over the centre + K sampled neighbors (``--k``).

The selected architecture (best by the search signal) is looked up on CIFAR-10 / CIFAR-100 / ImageNet16-120 test.
Uses the library classes (BenchmarkEvaluator, RandomSearch, RegularizedEvolution, Neighborhood).

    python scripts/nb201_table_search.py --seeds 100            # ~ a few minutes on one CPU core
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from nasflat.algorithms.random_search import RandomSearch
from nasflat.algorithms.rea import RegularizedEvolution
from nasflat.benchmarks.nb201 import DATASETS, NB201Table
from nasflat.context import SearchContext
from nasflat.evaluators.benchmark import BenchmarkEvaluator
from nasflat.evaluators.neighborhood import Neighborhood
from nasflat.spaces.nb201 import NB201Space

ALGOS = {
    "RS": (RandomSearch, False),
    "NA-RS": (RandomSearch, True),
    "REA": (RegularizedEvolution, False),
    "NA-REA": (RegularizedEvolution, True),
}


def default_table() -> Path:
    env = os.environ.get("NASFLAT_NB201_TABLE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201" / "nb201_all_archs_200ep.csv"


def one_run(table: NB201Table, algo: str, budget: int, unit: str, noise: float, k: int, seed: int) -> dict:
    cls, na = ALGOS[algo]
    ctx = SearchContext(space=NB201Space(), seed=seed, table=table)
    evaluator = BenchmarkEvaluator(ctx, dataset="cifar10", split="valid", noise_std=noise)
    hood = Neighborhood(neighbors=None if unit == "candidates" else k) if na else None
    search = cls(ctx, evaluator, budget=budget, chunk=budget, budget_unit=unit, neighborhood=hood)
    for step in range(search.total_steps):
        search.run_step(step)
    arch, _ = search.best()
    s = search.summary()
    return {
        "test": [table.query(arch, d, "test") for d in DATASETS],
        "candidates": s["candidates"],
        "evaluations": s["evaluations"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=default_table())
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--budgets", type=int, nargs="+", default=[10, 30, 100, 300])
    ap.add_argument("--noise-std", type=float, default=2.0, help="points of CIFAR-10 valid accuracy (noisy rows)")
    ap.add_argument("--k", type=int, default=4, help="sampled neighbors per candidate when budgets count evaluations")
    ap.add_argument("--json", type=Path, default=None, help="also write all per-run results here")
    args = ap.parse_args()

    table = NB201Table.load(args.table)
    best = {d: float(table.column(d, "test").max()) for d in DATASETS}
    print(
        f"NB201 table {args.table.name}: {len(table)} archs; best test {best}; {args.seeds} seeds per row; "
        f"NA-* by candidates: centre + 24 neighbors; by evaluations: centre + {args.k} sampled neighbors"
    )
    rows, t0 = [], time.perf_counter()
    header = (
        "| signal | budget unit | B | algo | candidates | lookups | C10 test | C100 test | IN16-120 test |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    print(header)
    for noise in (0.0, args.noise_std):
        signal = "C10 valid" if noise == 0 else f"C10 valid + N(0,{noise:g}²)"
        for unit in ("candidates", "evaluations"):
            for budget in args.budgets:
                for algo in ALGOS:
                    runs = [one_run(table, algo, budget, unit, noise, args.k, s) for s in range(args.seeds)]
                    acc = np.array([r["test"] for r in runs])  # (seeds, 3)
                    cells = " | ".join(f"{m:.2f} ± {s:.2f}" for m, s in zip(acc.mean(0), acc.std(0)))
                    cand = np.mean([r["candidates"] for r in runs])
                    ev = np.mean([r["evaluations"] for r in runs])
                    print(f"| {signal} | {unit} | {budget} | {algo} | {cand:.1f} | {ev:.1f} | {cells} |", flush=True)
                    rows.append({"noise_std": noise, "budget_unit": unit, "budget": budget, "algo": algo, "runs": runs})
    print(
        f"\n{len(rows)} rows x {args.seeds} seeds in {time.perf_counter() - t0:.0f} s "
        "(mean ± std over seeds; std is the population std)"
    )
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}))


if __name__ == "__main__":
    main()
