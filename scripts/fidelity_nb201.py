#!/usr/bin/env python3
"""Fidelity check on NB201 / CIFAR-10: does DARTS drift to parameter-free ops while A²M+DARTS does not?

Runs first-order DARTS and A²M+DARTS with the same seed in A²M's harness (first half of the train images ->
weights, second half -> α with augmented α batches; SGD 0.025 -> 0.001 cosine per epoch, wd 3e-4, clip 5;
Adam 3e-4 (0.5, 0.999) wd 1e-3; α step first; ρ = ε = 1e-2; argmax incl. `none`) and prints, per epoch, the
derived architecture, its number of parameter-free ops and its NB201 CIFAR-10 test accuracy (200-epoch table),
plus A²M's early-stopped selection. Every epoch is checkpointed: rerunning the same command resumes.

The full protocol (C=16, N=5, 25k/25k images, 50 epochs) needs a GPU; the defaults are a reduced CPU run on the
real (JPEG-decoded) CIFAR-10 images, materialized from the shared pack into an ignored folder:

    python scripts/fidelity_nb201.py                                  # reduced: C=8 N=1, 5k/5k images, 25 epochs
    python scripts/fidelity_nb201.py --full --device cuda --bf16      # the published protocol
    python scripts/fidelity_nb201.py --methods a2m --threads 1        # one method per process, in parallel
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from nasflat.algorithms.differentiable.arch_grads import A2M, FirstOrder
from nasflat.algorithms.differentiable.harness import DifferentiableSearch
from nasflat.algorithms.differentiable.selection import A2MEarlyStop, FinalEpoch
from nasflat.analysis.alpha_curvature import AlphaCurvature
from nasflat.benchmarks.nb201 import NB201Table
from nasflat.checkpoint import CheckpointStore
from nasflat.context import DataSpec, SearchContext
from nasflat.hardware import Hardware
from nasflat.phases import run_phase
from nasflat.spaces.nb201 import NB201Space
from nasflat.tracking import Tracker

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NASFLAT_SHARED", REPO.parent / "shared"))
METHODS = {"darts": FirstOrder, "a2m": lambda: A2M(rho=1e-2, epsilon=1e-2)}


def materialize(pack_dir: Path, root: Path, per_class: int | None) -> Path:
    """cifar-10-batches-py under ``root`` from the shared JPEG pack (skipped when already there)."""
    if (root / "cifar-10-batches-py" / "data_batch_5").exists():
        return root
    cmd = [sys.executable, str(pack_dir / "materialize.py"), "--out", str(root)]
    if per_class is not None:
        cmd += ["--per-class-train", str(per_class), "--per-class-test", "10"]
    subprocess.run(cmd, check=True)
    return root


def run(method: str, args: argparse.Namespace, data_root: Path, table: NB201Table) -> dict:
    out = args.out / method
    ctx = SearchContext(
        space=NB201Space(),
        seed=args.seed,
        hardware=Hardware(device=args.device, bf16=args.bf16),
        data_spec=DataSpec(name="cifar10", root=str(data_root), split_method="first", split_portion=0.5),
        table=table,
        supernet_options={"C": args.C, "N": args.N, "affine": False, "track_running_stats": True},
    )
    algo = DifferentiableSearch(
        ctx,
        arch_grad=METHODS[method](),
        epochs=args.epochs,
        batch_size=64,
        selection=A2MEarlyStop(patience=10) if args.early_stop else FinalEpoch(),
        eval_augment=True,
        hessian=AlphaCurvature(),
    )
    tracker = Tracker(run_dir=out, config=vars(args) | {"method": method}, wandb=None)
    t0 = time.perf_counter()
    run_phase(algo, CheckpointStore(out, f"fidelity-{method}"), tracker)
    tracker.close_progress()
    summary = algo.summary()
    best = summary["a2m_early_stop_arch"]
    result = {
        "method": method,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "images": ctx.data.sizes(),
        "wall_time_s": time.perf_counter() - t0,
        "epochs": [
            {
                "epoch": i + 1,
                "arch": h["arch"],
                "param_free_ops": h["param_free_ops"],
                "c10_test": h.get("bench_test_acc_cifar10"),
                "valid_loss": h["valid_loss"],
                "entropy": h["alpha_entropy"],
            }
            for i, h in enumerate(algo.history)
        ],
        "final_arch": summary["final_arch"],
        "a2m_early_stop": {
            "epoch": summary["a2m_best_epoch"] + 1,
            "arch": best,
            "c10_test": table.query(best, "cifar10", "test"),
        },
    }
    (out / "fidelity.json").write_text(json.dumps(result, indent=2))
    return result


def report(results: list[dict]) -> None:
    for r in results:
        print(
            f"\n{r['method']}: {r['images']['search_train']} + {r['images']['search_val']} images, "
            f"{r['wall_time_s'] / 60:.1f} min"
        )
        print(f"{'ep':>3s} {'pfree':>5s} {'C10 test':>8s} {'val loss':>8s} {'entropy':>7s}  arch")
        for e in r["epochs"]:
            print(
                f"{e['epoch']:3d} {e['param_free_ops']:5d} {e['c10_test']:8.2f} {e['valid_loss']:8.4f} "
                f"{e['entropy']:7.4f}  {e['arch']}"
            )
        s = r["a2m_early_stop"]
        print(f"A²M early-stop selection: epoch {s['epoch']} -> {s['c10_test']:.2f}  {s['arch']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--N", type=int, default=1)
    p.add_argument("--per-class", type=int, default=1000, help="train images per class (10 classes), split 50/50")
    p.add_argument("--full", action="store_true", help="the published protocol: C=16 N=5, all 50k images, 50 epochs")
    p.add_argument("--early-stop", action="store_true", help="stop as A²M does (patience 10); default: all epochs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--pack-dir", type=Path, default=SHARED / "data" / "cifar10")
    p.add_argument("--table", type=Path, default=SHARED / "data" / "nb201" / "nb201_all_archs_200ep.csv")
    p.add_argument("--data-root", type=Path, default=None, help="default: .data/cifar10_<per-class|full> (ignored)")
    p.add_argument("--out", type=Path, default=REPO / "outputs" / "fidelity_nb201")
    args = p.parse_args()
    if args.full:
        args.C, args.N, args.per_class, args.epochs = 16, 5, None, 50
    if args.threads:
        torch.set_num_threads(args.threads)
    tag = "full" if args.per_class is None else f"{args.per_class}pc"
    data_root = materialize(args.pack_dir, args.data_root or REPO / ".data" / f"cifar10_{tag}", args.per_class)
    args.out = args.out / f"C{args.C}_N{args.N}_{tag}_e{args.epochs}_s{args.seed}"
    table = NB201Table.load(args.table)
    report([run(m, args, data_root, table) for m in args.methods])


if __name__ == "__main__":
    main()
