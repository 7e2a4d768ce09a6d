#!/usr/bin/env python3
"""NASWOT on real CIFAR-10 images: Kendall tau-b between nasflat's score and NB201 CIFAR-10 test accuracy.

Samples ``--archs`` distinct NB201 architectures uniformly (seeded), scores each with ``NaswotEvaluator`` (the
benchmark's network, C=16, N=5, ``num_classes=1``, train-mode BN, one 128-image batch of CIFAR-10 training images
without augmentation, the same batch and initialisation seed for every arch), and prints tau-b against the table's
CIFAR-10 test accuracy next to tau-b of the table's ``naswot_cifar10`` column over the same architectures.
The scoring network keeps ``none`` edges as zero ops in the graph (the official graph); ``--both`` also scores the
ordinary network, whose ``none`` edges are skipped, and prints both on the same architectures. A score of -inf
(logits with no graph path to the images) is left out of the taus, as the official code drops its NaN scores.

Data: a class-balanced subset of the shared CIFAR-10 pack, materialized into a temporary folder with the pack's
``materialize.py`` (``--per-class`` training images per class; only 128 of them are used).

    python scripts/naswot_tau.py --archs 700 --both
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

from nasflat.analysis.rank import kendall_tau
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
    ap.add_argument("--both", action="store_true", help="also score the ordinary network (`none` edges skipped)")
    ap.add_argument("--init-seed", type=int, default=None, help="explicit NaswotEvaluator init_seed")
    ap.add_argument("--data-seed", type=int, default=None, help="explicit NaswotEvaluator data_seed")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    table = NB201Table.load(args.table)
    rows = np.random.default_rng(args.seed).choice(len(table), size=args.archs, replace=False)
    archs = [table.archs[int(r)] for r in rows]
    graphs = {"zero op (official)": True, **({"skipped (ordinary network)": False} if args.both else {})}

    with tempfile.TemporaryDirectory() as tmp:
        materialize(args.pack, tmp, args.per_class)
        ctx = SearchContext(space=NB201Space(), seed=args.seed, data_spec=DataSpec(name="cifar10", root=tmp))
        scores, elapsed = {}, {}
        for label, keep in graphs.items():
            ev = NaswotEvaluator(
                ctx,
                batch_size=128,
                split="train",
                network={"keep_none": keep},
                init_seed=args.init_seed,
                data_seed=args.data_seed,
            )
            scores[label], elapsed[label] = score_all(ev, archs, label)
        data = ctx.data.source

    test = np.array([table.query(a, "cifar10", "test") for a in archs])
    col = np.array([table.naswot(a) for a in archs])
    print(
        f"\ndata: {data}; {len(table.archs)} NB201 archs in {args.table.name}; {len(archs)} sampled (seed {args.seed})"
    )
    print("| `none` edges | -inf | n | tau-b vs C10 test | column vs C10 test | tau-b vs column | s/arch |")
    print("|---|---|---|---|---|---|---|")
    common = np.isfinite(col) & np.logical_and.reduce([np.isfinite(s) for s in scores.values()])
    for label, s in scores.items():
        ok = np.isfinite(s) & np.isfinite(col)
        print(
            f"| {label} | {int((~np.isfinite(s)).sum())} | {int(ok.sum())} | {kendall_tau(s[ok], test[ok]):.4f} "
            f"| {kendall_tau(col[ok], test[ok]):.4f} | {kendall_tau(s[ok], col[ok]):.4f} "
            f"| {elapsed[label] / len(archs):.2f} |"
        )
        if args.both:
            print(
                f"| {label}, on the {int(common.sum())} archs finite under both | - | {int(common.sum())} "
                f"| {kendall_tau(s[common], test[common]):.4f} | {kendall_tau(col[common], test[common]):.4f} "
                f"| {kendall_tau(s[common], col[common]):.4f} | - |"
            )
    if args.both:
        a, b = scores.values()
        print(f"scores that differ between the two graphs: {int((a != b).sum())} of {len(archs)}")


def materialize(pack: Path, out: str, per_class: int) -> None:
    """Write a class-balanced CIFAR-10 subset of the shared JPEG pack in the official pickle layout."""
    cmd = [sys.executable, str(pack / "materialize.py"), "--out", out, "--per-class-train", str(per_class)]
    subprocess.run([*cmd, "--per-class-test", "10"], check=True, capture_output=True)


def score_all(ev: NaswotEvaluator, archs: list, label: str) -> tuple[np.ndarray, float]:
    """Scores of ``archs`` one at a time, with progress; returns (scores, seconds)."""
    t0, out = time.perf_counter(), []
    for i, a in enumerate(archs):
        out += ev.score([a])
        if (i + 1) % 100 == 0:
            print(f"  [{label}] scored {i + 1}/{len(archs)} ({(time.perf_counter() - t0) / (i + 1):.2f} s/arch)")
    return np.array(out), time.perf_counter() - t0


if __name__ == "__main__":
    main()
