#!/usr/bin/env python3
"""Every differentiable method on every space, plain and with A²M's α-gradient, end to end through the CLI.

Each cell of the table is one ``nasflat search`` run (search, derive, retrain, evaluate) at ``scale=tiny`` on the
embedded digits data, so the table says which compositions run and what one search iteration costs:

- ``s/iter``: wall seconds of one search iteration (α step + weight step), the mean over the search epochs after
  the first (which also counts the FLOPs);
- ``GFLOP/iter``: convolutions and matmuls of the first iteration, forward and backward, counted by
  ``torch.utils.flop_counter`` (``algo.count_flops=true``);
- ``× darts``: the FLOPs per iteration over first-order DARTS's on the same space, measured in the same run.

A composition the harness cannot honour (e.g. the second-order gradient on a stochastic relaxation) is refused
before any work: its cell shows the refusal. ``--quick`` keeps one space per kind (nb201, darts, s4).

    python scripts/method_table.py                 # the whole table (about 20 minutes on 2 CPU cores)
    python scripts/method_table.py --quick --out table.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("darts", "darts_2nd", "pc_darts", "gdas", "drnas", "milenas")
SPACES = {
    "nb201": ["space=nb201"],
    "darts": ["space=darts"],
    "s1": ["space=darts", "space.op_set=s1"],
    "s2": ["space=darts", "space.op_set=s2"],
    "s3": ["space=darts", "space.op_set=s3"],
    "s4": ["space=darts", "space.op_set=s4"],
}
VARIANTS = {"plain": [], "+A²M": ["algo/arch_grad=a2m"]}


def nasflat() -> list[str]:
    """The CLI of the interpreter running this script (the repository's virtual environment)."""
    return [sys.executable, "-m", "nasflat.cli"]


def run_cell(method: str, space: str, variant: str, out_root: Path) -> dict:
    """One CLI run; its search records from metrics.jsonl, or the refusal's first line."""
    run_dir = out_root / f"{method}-{space}-{'a2m' if variant != 'plain' else 'plain'}"
    cmd = [
        *nasflat(),
        "search",
        "experiment=demo",
        f"algo={method}",
        *SPACES[space],
        *VARIANTS[variant],
        "scale=tiny",
        "logger=none",
        "algo.count_flops=true",
        f"hydra.run.dir={run_dir}",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        return {"rc": proc.returncode, "wall": wall, "error": lines[-1] if lines else "no output"}
    records = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    search = [r for r in records if r.get("phase") == "search" and "iter_s" in r]
    flops = next((r["flops_per_iteration"] for r in search if "flops_per_iteration" in r), None)
    steady = search[1:] or search  # the first epoch also runs the FLOP counter and warms up
    iter_s = sum(r["iter_s"] for r in steady) / len(steady) if steady else None
    return {"rc": 0, "wall": wall, "iter_s": iter_s, "flops": flops}


def table(results: dict[tuple[str, str, str], dict], spaces: list[str]) -> str:
    """Markdown: one row per (method, variant), per space ``s/iter · GFLOP/iter (× darts)`` or the refusal."""
    head = "| method | " + " | ".join(spaces) + " |"
    lines = [head, "|" + "---|" * (len(spaces) + 1)]
    for method in METHODS:
        for variant in VARIANTS:
            if (method, spaces[0], variant) not in results:
                continue
            cells = []
            for space in spaces:
                r = results[(method, space, variant)]
                base = results.get(("darts", space, "plain"), {}).get("flops")
                if r["rc"] != 0:
                    cells.append(f"refused (exit {r['rc']}): {r['error'][:90]}")
                elif r["flops"] is None or r["iter_s"] is None:
                    cells.append(f"ran, {r['wall']:.0f} s (no search records)")
                else:
                    ratio = f" (×{r['flops'] / base:.2f})" if base else ""
                    cells.append(f"{r['iter_s']:.3f} s · {r['flops'] / 1e9:.3f}{ratio}")
            lines.append(f"| {method} {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="nb201, darts and s4 only")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()
    spaces = ["nb201", "darts", "s4"] if args.quick else list(SPACES)
    results: dict[tuple[str, str, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            for variant in VARIANTS:
                if method == "darts_2nd" and variant != "plain":
                    continue  # + A²M replaces the second-order gradient: that row is darts + A²M
                for space in spaces:
                    r = run_cell(method, space, variant, Path(tmp))
                    results[(method, space, variant)] = r
                    status = "ok" if r["rc"] == 0 else f"exit {r['rc']}: {r['error'][:120]}"
                    print(f"{method:>9} {variant:<5} {space:<5} {r['wall']:6.1f} s  {status}", flush=True)
    text = table(results, spaces)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
