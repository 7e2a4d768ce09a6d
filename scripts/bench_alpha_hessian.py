#!/usr/bin/env python3
"""Cost of α-Hessian tracking (docs/analysis.md#α-space-curvature-during-differentiable-search) against a search
step measured in the same run.

For each space and size, one tracked measurement exactly as a search runs it (``AlphaCurvature`` on ``--images``
fixed images: the exact Hessian on NB201's 30 α entries, power iteration on the DARTS space), next to one
first-order DARTS iteration (α step + weight step on a batch of ``--batch-size``). The ratio says how many search
iterations one measurement costs; multiply by the iterations per epoch to get its share of an epoch. Images are
random (timing does not depend on pixel values).

    python scripts/bench_alpha_hessian.py --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from nasflat.algorithms.differentiable.harness import DifferentiableSearch
from nasflat.analysis.alpha_curvature import AlphaCurvature
from nasflat.context import DataSpec, SearchContext
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import NB201Space

SIZES = {  # name: (space, supernet options, image side)
    "nb201 demo (C=8, N=1, 16x16)": (NB201Space, {"C": 8, "N": 1}, 16),
    "nb201 paper (C=16, N=5, 32x32)": (NB201Space, {"C": 16, "N": 5}, 32),
    "darts demo (C=8, 5 cells, 16x16)": (DartsSpace, {"C": 8, "layers": 5}, 16),
    "darts paper (C=16, 8 cells, 32x32)": (DartsSpace, {"C": 16, "layers": 8}, 32),
}


def batch(n: int, side: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, 3, side, side, generator=g), torch.randint(0, 10, (n,), generator=g)


def measure(name: str, args: argparse.Namespace) -> list[str]:
    make_space, opts, side = SIZES[name]
    space, g = make_space(), torch.Generator().manual_seed(0)
    ctx = SearchContext(space=space, seed=0, data_spec=DataSpec(name="digits"), supernet_options=opts)
    bilevel = DifferentiableSearch(ctx, epochs=50, track_hessian=False)  # first-order DARTS
    train, val = batch(args.batch_size, side, g), batch(args.batch_size, side, g)
    bilevel.iteration(train, val)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.steps):
        bilevel.iteration(train, val)
    step_s = (time.perf_counter() - t0) / args.steps
    tracker = AlphaCurvature(images=args.images, batch_size=args.images, tol=args.tol, iters=args.iters)
    fixed = [batch(args.images, side, g)]
    res = tracker(bilevel.model, bilevel.alphas, fixed, torch.Generator().manual_seed(1))
    return [
        name,
        res.path,
        str(res.products),
        f"{res.seconds:.2f}",
        f"{res.seconds / res.products:.3f}",
        f"{step_s:.3f}",
        f"{res.seconds / step_s:.1f}",
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--images", type=int, default=64, help="fixed images of the measurement (config: hessian.images)")
    p.add_argument("--batch-size", type=int, default=64, help="search batch of the baseline step")
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--steps", type=int, default=3, help="timed baseline iterations")
    p.add_argument("--only", default="", help="substring of the size names to run")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} images={args.images} tol={args.tol} iters<={args.iters}\n")
    print("| size | path | products | measurement s | s/product | DARTS step s | ratio (steps) |")
    print("|---|---|---|---|---|---|---|")
    for name in SIZES:
        if args.only in name:
            print("| " + " | ".join(measure(name, args)) + " |", flush=True)


if __name__ == "__main__":
    main()
