#!/usr/bin/env python3
"""NASWOT on real CIFAR-10 images: Kendall tau-b between nasflat's score and NB201 CIFAR-10 test accuracy.

Samples ``--archs`` distinct NB201 architectures uniformly (seeded), scores each with ``NaswotEvaluator`` (the
benchmark's network, C=16, N=5, ``num_classes=1``, train-mode BN, one 128-image batch of CIFAR-10 training images
without augmentation, the same batch and initialisation seed for every arch), and prints tau-b against the table's
CIFAR-10 test accuracy next to tau-b of the table's ``naswot_cifar10`` column over the same architectures.
Architectures whose logits do not depend on the input (cells cut off by ``none``) score -inf and are left out of
both taus, as the official code drops its NaN scores.

Data: a class-balanced subset of the shared CIFAR-10 pack, materialized into a temporary folder with the pack's
``materialize.py`` (``--per-class`` training images per class; only 128 of them are used).

    python scripts/naswot_tau.py --archs 1000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nasflat.benchmarks.correlation import kendall_tau_b
from nasflat.benchmarks.nb201 import NB201Table
from nasflat.context import DataSpec, SearchContext
from nasflat.evaluators.naswot import NaswotEvaluator
from nasflat.spaces.nb201 import NB201Space

SHARED = Path(os.environ.get("NASFLAT_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-class", type=int, default=100, help="CIFAR-10 training images per class to materialize")
    ap.add_argument("--table", type=Path, default=SHARED / "data" / "nb201" / "nb201_all_archs_200ep.csv")
    ap.add_argument("--pack", type=Path, default=SHARED / "data" / "cifar10")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    table = NB201Table.load(args.table)
    space = NB201Space()
    rng = np.random.default_rng(args.seed)
    rows = rng.choice(len(table), size=args.archs, replace=False)
    archs = [table.archs[int(r)] for r in rows]

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                str(args.pack / "materialize.py"),
                "--out",
                tmp,
                "--per-class-train",
                str(args.per_class),
                "--per-class-test",
                "10",
            ],
            check=True,
            capture_output=True,
        )
        ctx = SearchContext(space=space, seed=args.seed, data_spec=DataSpec(name="cifar10", root=tmp))
        ev = NaswotEvaluator(ctx, batch_size=128, split="train")
        t0 = time.perf_counter()
        scores = []
        for i, a in enumerate(archs):
            scores += ev.score([a])
            if (i + 1) % 100 == 0:
                print(f"  scored {i + 1}/{len(archs)} ({(time.perf_counter() - t0) / (i + 1):.2f} s/arch)", flush=True)
        elapsed = time.perf_counter() - t0
        data = ctx.data.source

    s = np.array(scores)
    test = np.array([table.query(a, "cifar10", "test") for a in archs])
    col = np.array([table.naswot(a) for a in archs])
    ok = np.isfinite(s) & np.isfinite(col)
    print(f"\ndata: {data}; {len(table.archs)} NB201 archs in {args.table.name}")
    print(
        f"architectures: {len(archs)} sampled (seed {args.seed}), {int((~np.isfinite(s)).sum())} with -inf score "
        f"(input cut off), {int(ok.sum())} used; {elapsed:.0f} s ({elapsed / len(archs):.2f} s/arch)"
    )
    print("| score | Kendall tau-b vs NB201 CIFAR-10 test | n |\n|---|---|---|")
    print(f"| nasflat NASWOT (CIFAR-10 batch of 128, C=16, N=5) | {kendall_tau_b(s[ok], test[ok]):.4f} | {ok.sum()} |")
    print(f"| table column naswot_cifar10 (same archs) | {kendall_tau_b(col[ok], test[ok]):.4f} | {ok.sum()} |")
    print(f"| nasflat NASWOT vs table column | {kendall_tau_b(s[ok], col[ok]):.4f} | {ok.sum()} |")


if __name__ == "__main__":
    main()
