#!/usr/bin/env python3
"""Images/s of CIFAR-10 training-batch production: torchvision Dataset+DataLoader vs nasflat's DeviceLoader.

Both apply RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize at batch 256; the timed
region is steady state (after warm-up batches) and ends once the batches are on the target device.
Data: the real CIFAR-10 train images decoded from ../shared/data/cifar10 (or $NASFLAT_SHARED/data/cifar10);
synthetic uint8 data of the same shape when that is absent (the output says which).

    python scripts/bench_loader.py --iters 60 --device cpu
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from nasflat.data import DeviceLoader, ImageSplit

MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


def load_images(num: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(N, 32, 32, 3) uint8 HWC images, labels, and a description of where they came from."""
    shared = Path(os.environ.get("NASFLAT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    pack = shared / "data" / "cifar10" / "cifar10_jpeg_pack.npz"
    if pack.is_file():
        z = np.load(pack)
        buf, off = z["train_bytes"], z["train_offsets"]
        num = min(num, len(off) - 1)
        x = np.stack(
            [np.asarray(Image.open(io.BytesIO(buf[off[i] : off[i + 1]].tobytes())).convert("RGB")) for i in range(num)]
        )
        return x, z["train_labels"][:num].astype(np.int64), f"real CIFAR-10 train images ({num:,}) from {pack}"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (num, 32, 32, 3), dtype=np.uint8)
    return x, rng.integers(0, 10, num), f"SYNTHETIC uint8 data ({num:,} images): {pack} not found"


class PILCifar(Dataset):
    """What torchvision's CIFAR10 does per item: HWC uint8 -> PIL image -> transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: transforms.Compose) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def time_batches(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device, iters: int, warmup: int, batch: int
) -> float:
    """Images/s over `iters` batches after `warmup`, each moved to `device`."""
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    sync()
    return iters * batch / (time.perf_counter() - t0)


def torchvision_loader(ds: Dataset, workers: int, batch: int, device: torch.device) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(0),
        pin_memory=device.type == "cuda",
    )


def device_loader(split: ImageSplit, batch: int, device: torch.device) -> DeviceLoader:
    return DeviceLoader(
        split,
        batch_size=batch,
        device=device,
        mean=MEAN,
        std=STD,
        train_augment=True,
        crop_padding=4,
        generator=torch.Generator().manual_seed(0),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=40, help="timed batches per configuration")
    ap.add_argument("--warmup", type=int, default=3, help="untimed batches first (worker start-up, caches)")
    ap.add_argument("--num-images", type=int, default=50_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader num_workers to try")
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all", help="all = cpu (+ cuda if present)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds over all configurations; the best round is kept")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    images, labels, origin = load_images(args.num_images)
    need = (args.iters + args.warmup) * args.batch_size
    if need > len(images):
        ap.error(f"--iters + --warmup need {need} images per epoch, have {len(images)}")
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [torch.device(d) for d in devices if d == "cpu" or torch.cuda.is_available()]
    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )
    ds = PILCifar(images, labels, tf)
    split = ImageSplit(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels))
    print(f"data: {origin}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"batch {args.batch_size}, {args.iters} timed batches after {args.warmup} warm-up"
    )
    configs = []  # (name, device, factory of a fresh batch iterable)
    for device in devices:
        for w in args.workers:
            configs.append(
                (
                    f"torchvision DataLoader (PIL), workers={w}",
                    device,
                    partial(torchvision_loader, ds, w, args.batch_size, device),
                )
            )
        configs.append(("nasflat DeviceLoader", device, partial(device_loader, split, args.batch_size, device)))
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.repeats):  # interleaved rounds: a busy spell on a shared machine hits every config alike
        for name, device, make in configs:
            ips = time_batches(make(), device, args.iters, args.warmup, args.batch_size)
            best[(name, device.type)] = max(ips, best.get((name, device.type), 0.0))
    rows = []
    for (name, dev), ips in best.items():
        tv = max(v for (n, d), v in best.items() if d == dev and n.startswith("torchvision"))
        rows.append((name, dev, ips, None if name.startswith("torchvision") else ips / tv))
    print(f"\n| {'pipeline':<42} | {'device':<6} | {'images/s':>10} | {'vs best torchvision':>19} |")
    print(f"|{'-' * 44}|{'-' * 8}|{'-' * 12}|{'-' * 21}|")
    for name, dev, ips, ratio in rows:
        r = f"{ratio:.1f}x" if ratio is not None else ""
        print(f"| {name:<42} | {dev:<6} | {ips:>10,.0f} | {r:>19} |")


if __name__ == "__main__":
    main()
