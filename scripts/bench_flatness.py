#!/usr/bin/env python3
"""GeNAS flatness evaluations per minute: nasflat's FlatnessEvaluator vs a straightforward per-candidate loop.

GeNAS settings: the DARTS SPOS supernet (8 cells, C=16, affine BN, ~2M parameters) on 32x32 images, BN
recalibration on 850 images, sigma = 0.001 / 0.003 / 0.006, loss over 25,000 held-out images in batches of 64
(14 + 3 x 391 forward batches per candidate). Images are random uint8 (throughput does not depend on pixel values).

* ``loop``: the reference procedure written plainly (docs/methods.md#flatness): per candidate, fresh loaders, BN
  recalibration, a deep copy of the supernet, fresh noise tensors drawn per level, one ``.item()`` per batch;
* ``nasflat``: ``FlatnessEvaluator`` — data prepared once (BN batches, the held-out images as one tensor), noise
  drawn once and reused (common random numbers), the supernet perturbed in place and restored (no copy), losses
  accumulated on the device, optional larger forward chunks (``--eval-batch``: the loss definition is unchanged).

Both use the same noise draws, so their F agree (printed). Modes are interleaved candidate by candidate so machine
load affects them alike. On a slow CPU use ``--val-images`` < 25,000; the printed projection to 25,000 scales the
measured time by the number of forward batches. The evaluator's cache (a repeated candidate costs nothing) is not
part of the ratio: GeNAS's evolution never scores a candidate twice.

    python scripts/bench_flatness.py --candidates 3 --val-images 640            # CPU, a few minutes
    python scripts/bench_flatness.py --device cuda --candidates 5 --eval-batch 512
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from itertools import islice
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from nasflat.context import DataBundle, SearchContext
from nasflat.data import ImageSplit
from nasflat.evaluators.flatness import FlatnessEvaluator, flatness_from_losses
from nasflat.hardware import Hardware
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import NB201Space
from nasflat.train import recalibrate_bn

STDS = (0.001, 0.003, 0.006)


def synthetic_ctx(space, device: str, channels_last: bool, n: int = 50_000) -> SearchContext:
    g = torch.Generator().manual_seed(0)
    train = ImageSplit(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g)
    )
    half = n // 2
    bundle = DataBundle(
        name="synthetic",
        num_classes=10,
        mean=(0.49, 0.48, 0.45),
        std=(0.25, 0.24, 0.26),
        crop_padding=4,
        splits={"train": train, "search_train": train.subset(range(half)), "search_val": train.subset(range(half, n))},
        source="random uint8",
        split_method="first",
    )
    return SearchContext(
        space=space, seed=0, hardware=Hardware(device=device, channels_last=channels_last), _data=bundle
    )


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def loop_flatness(ctx, supernet, arch, *, bn_images, val_images, noise_seed, bn_seed) -> float:
    """The straightforward per-candidate procedure (docs/methods.md#flatness)."""
    fwd = lambda m, x: m(x, arch)  # noqa: E731
    bn_loader = ctx.loader("search_train", 64, train=True, seed=bn_seed)
    recalibrate_bn(supernet, islice(bn_loader, math.ceil(bn_images / 64)), hw=ctx.hardware, forward=fwd)
    supernet.eval()
    model = copy.deepcopy(supernet)
    g = torch.Generator().manual_seed(noise_seed)
    losses, prev = [], 0.0
    with torch.no_grad():
        for s in STDS:
            for _, p in model.named_parameters():
                p.add_((torch.randn(p.shape, generator=g, dtype=p.dtype) * (s - prev)).to(p.device))
            prev = s
            total, n = 0.0, 0
            for x, y in islice(ctx.loader("search_val", 64, train=False), math.ceil(val_images / 64)):
                total += F.cross_entropy(model(x, arch), y).item()
                n += 1
            losses.append(total / n)
    return flatness_from_losses(losses, STDS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", choices=["darts", "nb201"], default="darts")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--candidates", type=int, default=3)
    ap.add_argument("--bn-images", type=int, default=850)
    ap.add_argument("--val-images", type=int, default=25_000)
    ap.add_argument("--eval-batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--channels-last", action="store_true", help="both modes (was up to 2x faster on a 2-core CPU)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    space = DartsSpace() if args.space == "darts" else NB201Space()
    ctx = synthetic_ctx(space, args.device, args.channels_last)
    supernet = ctx.build_supernet(affine=True)
    trainer = SimpleNamespace(supernet=supernet, init_state=None)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(args.candidates)]
    kw = dict(bn_images=args.bn_images, val_images=args.val_images, batch_size=64, noise_seed=7)
    evaluators = {
        f"nasflat (chunk {b})": FlatnessEvaluator(ctx, trainer, stds=STDS, eval_batch_size=b, **kw)
        for b in args.eval_batch
    }
    for ev in evaluators.values():
        ev.data.bn_seed = 9
    times = {"loop": 0.0, **{k: 0.0 for k in evaluators}}
    scores: dict[str, list[float]] = {k: [] for k in times}
    for arch in archs:  # interleaved: machine load hits every mode alike
        sync(args.device)
        t0 = time.perf_counter()
        scores["loop"].append(
            loop_flatness(
                ctx, supernet, arch, bn_images=args.bn_images, val_images=args.val_images, noise_seed=7, bn_seed=9
            )
        )
        sync(args.device)
        times["loop"] += time.perf_counter() - t0
        for name, ev in evaluators.items():
            t0 = time.perf_counter()
            scores[name] += ev.score([arch])  # the first call also prepares data and noise (counted)
            sync(args.device)
            times[name] += time.perf_counter() - t0

    n_val = math.ceil(args.val_images / 64)
    batches, full = math.ceil(args.bn_images / 64) + len(STDS) * n_val, math.ceil(850 / 64) + len(STDS) * 391
    params = sum(p.numel() for p in supernet.parameters())
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"{args.space} supernet ({params:,} params) on {dev}, channels_last={args.channels_last}; "
        f"{args.candidates} candidates; {args.bn_images} BN + {args.val_images} val images "
        f"({batches} forward batches of 64 per candidate; GeNAS settings: {full})"
    )
    print("| mode | s / candidate | evaluations / min | projected evaluations / min at GeNAS settings | speedup |")
    print("|---|---|---|---|---|")
    for name, t in times.items():
        per = t / args.candidates
        print(f"| {name} | {per:.2f} | {60 / per:.3f} | {60 / (per * full / batches):.4f} | {times['loop'] / t:.2f}x |")
    ref = np.array(scores["loop"])
    for name in evaluators:
        rel = float(np.max(np.abs(np.array(scores[name]) - ref) / np.abs(ref)))
        print(f"max relative difference of F, {name} vs loop: {rel:.2e}")


if __name__ == "__main__":
    main()
