#!/usr/bin/env python3
"""Images/s (and peak memory) of one supernet training step: mixture vs single path, CPU and CUDA (+bf16).

One step = forward + cross-entropy + backward + SGD step on a fixed batch. Mixture = every op of every edge
weighted by softmax(alpha) (DARTS-style); single path = one sampled architecture per step (SPOS-style).

    python scripts/bench_supernet.py --space nb201 --space darts --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import NB201Space

SPACES = {"nb201": lambda: NB201Space(), "darts": lambda: DartsSpace()}


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB -> MiB (process peak RSS)


def bench(
    space_name: str, mode: str, device: torch.device, bf16: bool, batch: int, steps: int, warmup: int, res: int
) -> tuple[float, float]:
    space = SPACES[space_name]()
    torch.manual_seed(0)
    net = space.supernet(10).to(device)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
        torch.cuda.reset_peak_memory_stats(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    alphas = {k: (1e-3 * torch.randn(*s, device=device)).requires_grad_() for k, s in space.weight_shapes().items()}
    x = torch.randn(batch, 3, res, res, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    rng = np.random.default_rng(0)

    def step() -> None:
        choice = {k: a.softmax(-1) for k, a in alphas.items()} if mode == "mixture" else space.sample(rng)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x, choice), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0), peak_memory_mb(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", action="append", choices=sorted(SPACES), help="default: nb201 and darts")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    ap.add_argument("--one", nargs=4, metavar=("SPACE", "MODE", "DEVICE", "BF16"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one:  # child process: one measurement, so peak memory is not inherited from other configs
        space, mode, device, bf16 = args.one
        rate, mem = bench(space, mode, torch.device(device), bf16 == "1", args.batch_size, args.steps, args.warmup, 32)
        print(json.dumps({"rate": rate, "mem": mem}))
        return
    configs = [(torch.device("cpu"), False)]
    if torch.cuda.is_available():
        configs += [(torch.device("cuda"), False), (torch.device("cuda"), True)]
    print(f"torch {torch.__version__}, batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up")
    print(f"{'space':6} {'device':6} {'bf16':5} {'mode':12} {'images/s':>10} {'peak MiB':>9} {'mix/single':>10}")
    for space in args.space or ["nb201", "darts"]:
        for device, bf16 in configs:
            rates = {}
            for mode in ("mixture", "single_path"):
                cmd = [
                    sys.executable,
                    __file__,
                    "--batch-size",
                    str(args.batch_size),
                    "--steps",
                    str(args.steps),
                    "--warmup",
                    str(args.warmup),
                    "--threads",
                    str(args.threads),
                    "--one",
                    space,
                    mode,
                    device.type,
                    str(int(bf16)),
                ]
                out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
                rate, mem = out["rate"], out["mem"]
                rates[mode] = rate
                ratio = f"{rates['mixture'] / rate:10.2f}" if mode == "single_path" else ""
                print(f"{space:6} {device.type:6} {bf16!s:5} {mode:12} {rate:10.1f} {mem:9.0f} {ratio}")


if __name__ == "__main__":
    main()
