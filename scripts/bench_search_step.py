#!/usr/bin/env python3
"""Images/s of one differentiable-search iteration (α step + weight step) per method, and the cost ratio to
first-order DARTS measured in the same run.

One iteration = ``Bilevel.step`` exactly as the search runs it: the method's α gradient on a val batch, Adam on
α, then SGD on the weights with softmax(α) frozen. Images/s counts the train batch (one batch per iteration).
A²M takes 4 α passes + 1 weight pass, first-order DARTS 1 + 1, so A²M should cost about 5/2 of DARTS.

    python scripts/bench_search_step.py                      # NB201 C=16 N=5, batch 64, CPU (and CUDA if present)
    python scripts/bench_search_step.py --device cuda --bf16 --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nasflat.algorithms.arch_grad import A2M, FirstOrder, NeighborhoodExpected, NeighborhoodSampled, Unrolled
from nasflat.algorithms.darts import Bilevel, darts_sgd
from nasflat.hardware import Hardware
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import NB201Space

METHODS = {
    "darts (1st order)": FirstOrder,
    "darts (2nd order)": Unrolled,
    "a2m": A2M,
    "na_darts (expected)": NeighborhoodExpected,
    "na_darts (sampled, K=4)": lambda: NeighborhoodSampled(samples=4),
}


def build(make, args: argparse.Namespace, device: str) -> Bilevel:
    space = NB201Space() if args.space == "nb201" else DartsSpace()
    opts = {"C": args.C, "N": args.N} if args.space == "nb201" else {"C": args.C, "layers": args.layers}
    torch.manual_seed(0)
    hw = Hardware(device=device, bf16=args.bf16 and device.startswith("cuda"))
    net = hw.prepare(space.supernet(10, **opts))
    return Bilevel(net, space.weight_shapes(), arch_grad=make(), epochs=50, optim=darts_sgd(), hardware=hw)


def time_methods(args: argparse.Namespace, device: str) -> dict[str, tuple[float, int]]:
    """Median seconds per iteration and α passes per method; methods are interleaved iteration by iteration so
    that load drifts on a shared machine hit all of them alike."""
    cores = {label: build(make, args, device) for label, make in METHODS.items()}
    g = torch.Generator().manual_seed(0)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(args.batch_size, 3, args.res, args.res, generator=g)
        return x.to(device), torch.randint(0, 10, (args.batch_size,), generator=g).to(device)

    train, val = batch(), batch()
    times: dict[str, list[float]] = {label: [] for label in cores}
    for i in range(args.warmup + args.steps):
        for label, core in cores.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            core.step(train, val, i)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= args.warmup:
                times[label].append(time.perf_counter() - t0)
    return {label: (statistics.median(times[label]), cores[label].arch_grad.passes) for label in cores}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", choices=("nb201", "darts"), default="nb201")
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5, help="NB201 cells per stage")
    p.add_argument("--layers", type=int, default=8, help="DARTS cells")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--res", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", action="append", help="cpu and/or cuda (default: cpu, plus cuda when available)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast in the weight step on CUDA")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    size = f"C={args.C} N={args.N}" if args.space == "nb201" else f"C={args.C} layers={args.layers}"
    print(
        f"{args.space} supernet {size}, batch {args.batch_size}, {args.res}x{args.res}, "
        f"median of {args.steps} iterations after {args.warmup} warm-up; torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    for device in devices:
        name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
        print(f"\n{device} ({name}{', bf16 weight step' if args.bf16 and device.startswith('cuda') else ''})")
        print(f"{'method':26s} {'passes':>6s} {'s/iter':>8s} {'images/s':>9s} {'x DARTS-1st':>11s}")
        results = time_methods(args, device)
        base = results["darts (1st order)"][0]
        for label, (seconds, passes) in results.items():
            print(f"{label:26s} {passes + 1:6d} {seconds:8.3f} {args.batch_size / seconds:9.1f} {seconds / base:11.2f}")


if __name__ == "__main__":
    main()
