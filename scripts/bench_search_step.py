#!/usr/bin/env python3
"""Images/s of one differentiable-search iteration (α step + weight step) per method, and the cost ratio to
first-order DARTS measured in the same run.

One iteration = ``DifferentiableSearch.iteration`` exactly as the search runs it: the method's α gradient on a val
batch, Adam on α, then SGD on the weights with softmax(α) frozen. Images/s counts the train batch (one batch per
iteration).
A²M takes 4 α passes + 1 weight pass, first-order DARTS 1 + 1, so A²M should cost about 5/2 of DARTS.

On NB201 every method runs with each ``--kernel`` (the supernet's ``search_net.kernel``: ``grouped``, the default,
and ``per_op``, the reference; both by default), interleaved in the same run, and the last column is the grouped
kernel's speed-up over per-op (per-op s/iter / grouped s/iter).

FLOPs per iteration are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one real iteration
(convolutions and matmuls, forward and backward, 2 FLOPs per multiply-add; BN, activations and the optimizers are
not counted). The utilisation column divides the achieved FLOP/s by a dense GEMM's FLOP/s measured in the same run
(8192² bf16 GEMM for bf16 rows, float32 GEMM with TF32 allowed otherwise).

    python scripts/bench_search_step.py                      # NB201 C=16 N=5, batch 64, CPU (and CUDA if present)
    python scripts/bench_search_step.py --device cuda --batch-size 64 --batch-size 256 --precision both --steps 20
    python scripts/bench_search_step.py --C 8 --N 1 --resolution 16 --method darts    # experiment=collapse_cpu's size
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from nasflat.algorithms.differentiable.arch_grads import (
    A2M,
    FirstOrder,
    NeighborhoodExpected,
    NeighborhoodSampled,
    Unrolled,
)
from nasflat.algorithms.differentiable.harness import DifferentiableSearch
from nasflat.context import DataSpec, SearchContext
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


def build(make, args: argparse.Namespace, device: str, bf16: bool, kernel: str | None) -> DifferentiableSearch:
    """The harness at the requested sizes; its loaders hold the (embedded) digits, the timed batches are random."""
    space = NB201Space() if args.space == "nb201" else DartsSpace()
    opts = (
        {"C": args.C, "N": args.N, "kernel": kernel} if args.space == "nb201" else {"C": args.C, "layers": args.layers}
    )
    hw = Hardware(device=device, bf16=bf16, channels_last=args.channels_last)
    ctx = SearchContext(space=space, seed=0, hardware=hw, data_spec=DataSpec(name="digits"), supernet_options=opts)
    return DifferentiableSearch(ctx, arch_grad=make(), epochs=50, track_hessian=False)


def gemm_flops_per_s(device: str, dtype: torch.dtype, n: int = 8192, reps: int = 20) -> float:
    """Measured dense matmul throughput (the denominator of the utilisation column)."""
    if not device.startswith("cuda"):
        n, reps = 1024, 5
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_methods(
    args: argparse.Namespace, device: str, batch_size: int, bf16: bool
) -> dict[tuple[str, str | None], tuple[float, int, float]]:
    """Median seconds per iteration, α passes and FLOPs per iteration, per (method, kernel); all are interleaved
    iteration by iteration so that load drifts on a shared machine hit all of them alike."""
    cores = {
        (label, kernel): build(make, args, device, bf16, kernel)
        for label, make in METHODS.items()
        if _chosen(label, args)
        for kernel in kernels(args)
    }
    g = torch.Generator().manual_seed(0)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(batch_size, 3, args.res, args.res, generator=g)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x.to(device), torch.randint(0, 10, (batch_size,), generator=g).to(device)

    train, val = batch(), batch()
    flops = {}
    for label, core in cores.items():  # the first iteration doubles as warm-up
        counter = FlopCounterMode(display=False)
        with counter:
            core.iteration(train, val)
        flops[label] = float(counter.get_total_flops())
    times: dict[tuple[str, str | None], list[float]] = {label: [] for label in cores}
    for i in range(1, args.warmup + args.steps):
        for label, core in cores.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            core.iteration(train, val)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= args.warmup:
                times[label].append(time.perf_counter() - t0)
    return {
        label: (statistics.median(times[label]), cores[label].parts.arch_grad.passes, flops[label]) for label in cores
    }


def _chosen(label: str, args: argparse.Namespace) -> bool:
    return not args.method or any(label.startswith(m) for m in args.method)


def kernels(args: argparse.Namespace) -> list[str | None]:
    """The NB201 supernet kernels to time (None: the DARTS space, which has one)."""
    if args.space != "nb201":
        return [None]
    return list(dict.fromkeys(args.kernel or ["per_op", "grouped"]))


def print_rows(results: dict[tuple[str, str | None], tuple[float, int, float]], batch_size: int, peak: float) -> None:
    """One row per (method, kernel): the cost relative to first-order DARTS with the same kernel, and the grouped
    kernel's speed-up over per-op for the same method."""
    for (label, kernel), (seconds, passes, flops) in results.items():
        base = next(s for (_, k), (s, _, _) in results.items() if k == kernel)
        per_op = results.get((label, "per_op"))
        speedup = f"{per_op[0] / seconds:11.2f}" if kernel == "grouped" and per_op else f"{'':>11s}"
        rate, images = flops / seconds, batch_size / seconds
        print(
            f"{label:26s} {kernel or '-':8s} {batch_size:5d} {passes + 1:6d} {seconds:8.3f} {images:9.1f} "
            f"{flops / 1e9:9.2f} {rate / 1e12:8.3f} {100 * rate / peak:7.2f} {seconds / base:11.2f} {speedup}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", choices=("nb201", "darts"), default="nb201")
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5, help="NB201 cells per stage")
    p.add_argument("--layers", type=int, default=8, help="DARTS cells")
    p.add_argument("--batch-size", type=int, action="append", help="repeatable (default: 64)")
    p.add_argument("--resolution", "--res", dest="res", type=int, default=32, help="input height and width")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", action="append", help="cpu and/or cuda (default: cpu, plus cuda when available)")
    p.add_argument(
        "--precision", choices=("fp32", "bf16", "both"), default="fp32", help="bf16: autocast in the weight step (CUDA)"
    )
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--method", action="append", help="only methods whose label starts with this (repeatable)")
    p.add_argument(
        "--kernel",
        action="append",
        choices=("per_op", "grouped"),
        help="NB201 supernet kernel (search_net.kernel), repeatable (default: both)",
    )
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    batches = args.batch_size or [64]
    size = f"C={args.C} N={args.N}" if args.space == "nb201" else f"C={args.C} layers={args.layers}"
    print(
        f"{args.space} supernet {size}, {args.res}x{args.res}, median of {args.steps} iterations after "
        f"{args.warmup} warm-up; torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    for device in devices:
        if device.startswith("cuda"):
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
        modes = {"fp32": [False], "bf16": [True], "both": [False, True]}[args.precision]
        modes = [m for m in modes if not m or device.startswith("cuda")] or [False]
        for bf16 in modes:
            peak = gemm_flops_per_s(device, torch.bfloat16 if bf16 else torch.float32)
            kind = "bf16" if bf16 else "fp32/tf32"
            mode = "bf16 weight step" if bf16 else "fp32"
            print(f"\n{device} ({name}), {mode}; {kind} GEMM {peak / 1e12:.1f} TFLOP/s")
            print(
                f"{'method':26s} {'kernel':8s} {'batch':>5s} {'passes':>6s} {'s/iter':>8s} {'images/s':>9s} "
                f"{'GFLOP/it':>9s} {'TFLOP/s':>8s} {'% GEMM':>7s} {'x DARTS-1st':>11s} {'x per_op':>11s}"
            )
            for batch_size in batches:
                print_rows(time_methods(args, device, batch_size, bf16), batch_size, peak)


if __name__ == "__main__":
    main()
