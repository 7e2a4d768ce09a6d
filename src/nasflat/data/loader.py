"""Device-resident data loading: the whole split is one uint8 tensor on the device, augmented in batches.

NAS on CIFAR is input-bound with a PIL/DataLoader pipeline (pt.darts#22, #29). Here an epoch is a permutation drawn
from the caller's generator, and random crop / flip / cutout are a few tensor ops per batch with no per-sample
Python, so the same code runs on CPU and GPU and a checkpointed generator state reproduces the exact batches.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from .datasets import ImageSplit

Batch = tuple[torch.Tensor, torch.Tensor]


def crop_flip(
    padded: torch.Tensor, idx: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor | None, size: int
) -> torch.Tensor:
    """Gather `size`x`size` crops at per-sample offsets (oy, ox) of `padded[idx]`, mirrored where `flip`.

    One flat `take` does batch selection, crop and flip together (about 2x faster on CPU than 4-tensor advanced
    indexing): padded (N, C, Hp, Wp) contiguous -> (B, C, size, size), same dtype.
    """
    _, c, hp, wp = padded.shape
    ar = torch.arange(size, device=padded.device)
    cols = ar.expand(len(idx), size) if flip is None else torch.where(flip[:, None], size - 1 - ar, ar)  # (B, S)
    base = idx * (c * hp * wp) + oy * wp + ox  # flat offset of each crop's top-left pixel in channel 0
    grid = torch.arange(c, device=padded.device)[:, None, None] * (hp * wp) + ar[None, :, None] * wp  # (C, S, 1)
    return padded.reshape(-1).take((base[:, None] + cols)[:, None, None, :] + grid)


def cutout_mask(cy: torch.Tensor, cx: torch.Tensor, length: int, height: int, width: int) -> torch.Tensor:
    """(B, H, W) bool, True inside each sample's cutout square; DARTS's Cutout: rows [cy - L//2, cy + L//2) clipped."""
    half = length // 2
    r = torch.arange(height, device=cy.device)
    c = torch.arange(width, device=cx.device)
    in_r = (r >= cy[:, None] - half) & (r < cy[:, None] + half)
    in_c = (c >= cx[:, None] - half) & (c < cx[:, None] + half)
    return in_r[:, :, None] & in_c[:, None, :]


class DeviceLoader:
    """Batches of (x float (B, 3, H, W) normalized, y int64 (B,)) from a split held on `device`.

    Randomness (order and augmentation) comes only from `generator`, drawn for the whole epoch when `iter()` is
    called; use a CPU generator to get identical batches on CPU and GPU. With world_size > 1 every rank must pass a
    generator in the same state: all ranks draw one permutation and rank r takes `perm[r::world_size]`
    (with drop_last, truncated to len // world_size so every rank runs the same number of steps; without it the
    slices cover the split exactly and may differ by one sample, fine for evaluation, not for DDP training).
    Cutout is applied after normalization, so the cut square is 0 in normalized space, as in DARTS.
    """

    def __init__(
        self,
        split: ImageSplit,
        *,
        batch_size: int,
        device: torch.device | str,
        mean: Sequence[float],
        std: Sequence[float],
        train_augment: bool,
        crop_padding: int,
        flip: bool = True,
        cutout: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        generator: torch.Generator,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if batch_size < 1 or crop_padding < 0 or cutout < 0:
            raise ValueError(
                f"need batch_size >= 1, crop_padding >= 0, cutout >= 0; got {batch_size}, {crop_padding}, {cutout}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in [0, world_size={world_size})")
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("mean and std need 3 values (RGB)")
        self.device = torch.device(device)
        self.batch_size, self.generator = batch_size, generator
        self.train_augment, self.flip, self.cutout = train_augment, flip, cutout
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rank, self.world_size = rank, world_size
        self.channels_last, self.dtype = channels_last, dtype
        self.num_images = len(split)
        self.height, self.width = split.images.shape[-2:]
        if train_augment and self.height != self.width:
            raise ValueError(f"random crop expects square images, got {self.height}x{self.width}")
        self.pad = crop_padding if train_augment else 0
        images = F.pad(split.images, (self.pad,) * 4) if self.pad else split.images
        self.images = images.contiguous().to(self.device)  # the one host->device copy, kept as uint8
        self.labels = split.labels.to(self.device)
        std_t = torch.tensor(std, dtype=torch.float32)
        self._scale = (1.0 / (255.0 * std_t)).view(1, 3, 1, 1).to(self.device)
        self._shift = (torch.tensor(mean, dtype=torch.float32) / std_t).view(1, 3, 1, 1).to(self.device)
        if len(self) == 0:
            raise ValueError(
                f"{self.num_samples} samples per rank < batch_size {batch_size} with drop_last=True "
                "gives no batches; lower batch_size or set drop_last=False"
            )

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch (before dropping the last incomplete batch)."""
        if self.world_size > 1 and self.drop_last:
            return self.num_images // self.world_size
        return len(range(self.rank, self.num_images, self.world_size))

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _draw(self, n_perm: int, n_aug: int, shuffle: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Permutation of the split and augmentation parameters for its first n_aug positions, on the device.

        Every rank makes the same draws, so generator states stay identical across ranks.
        """
        g, gd = self.generator, self.generator.device
        perm = torch.randperm(n_perm, generator=g, device=gd) if shuffle else torch.arange(n_perm, device=gd)
        if not self.train_augment:
            return perm.to(self.device), None
        span = 2 * self.pad + 1
        rows = [
            torch.randint(span, (n_aug,), generator=g, device=gd),
            torch.randint(span, (n_aug,), generator=g, device=gd),
        ]
        rows.append(torch.randint(2, (n_aug,), generator=g, device=gd) if self.flip else torch.zeros_like(rows[0]))
        if self.cutout:
            rows += [
                torch.randint(self.height, (n_aug,), generator=g, device=gd),
                torch.randint(self.width, (n_aug,), generator=g, device=gd),
            ]
        return perm.to(self.device), torch.stack(rows).to(self.device)  # one transfer: (4 or 6, n_aug)

    def _rank_positions(self, n: int, truncate: bool) -> torch.Tensor:
        pos = torch.arange(self.rank, n, self.world_size, device=self.device)
        return pos[: n // self.world_size] if truncate else pos

    def _batch(self, idx: torch.Tensor, params: torch.Tensor | None) -> Batch:
        if params is None:
            x = self.images[idx]
        else:
            flip = params[2].bool() if self.flip else None
            x = crop_flip(self.images, idx, params[0], params[1], flip, self.height)
        x = x.to(torch.float32).mul_(self._scale).sub_(self._shift)
        if params is not None and self.cutout:
            x.masked_fill_(cutout_mask(params[3], params[4], self.cutout, self.height, self.width)[:, None], 0.0)
        if self.dtype != torch.float32:
            x = x.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.labels[idx]

    def __iter__(self) -> Iterator[Batch]:
        """Draws the epoch's randomness now (not lazily), then yields its batches."""
        n = self.num_images
        perm, params = self._draw(n, n, self.shuffle)
        pos = self._rank_positions(n, truncate=self.world_size > 1 and self.drop_last)
        idx = perm[pos]
        params = params[:, pos] if params is not None else None
        return self._iterate(idx, params, len(self))

    def _iterate(self, idx: torch.Tensor, params: torch.Tensor | None, num_batches: int) -> Iterator[Batch]:
        b = self.batch_size
        for i in range(num_batches):
            sl = slice(i * b, (i + 1) * b)
            yield self._batch(idx[sl], params[:, sl] if params is not None else None)

    def sample_batch(self) -> Batch:
        """One random batch of distinct samples, like DARTS's `next(iter(valid_queue))` (always shuffled)."""
        n = self.num_images
        take = min(self.batch_size * self.world_size, n)
        perm, params = self._draw(n, take, shuffle=True)
        pos = self._rank_positions(take, truncate=False)
        return self._batch(perm[pos], params[:, pos] if params is not None else None)


def fixed_batches(
    split: ImageSplit,
    *,
    images: int,
    batch_size: int,
    generator: torch.Generator,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    in_order: bool = False,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``images`` distinct images of ``split`` drawn once by ``generator``, unaugmented, cut into batches.

    For measurements repeated on the same images (the α-Hessian every epoch, a weight landscape's grid points), so
    that changes come from the model, not from the data. ``in_order``: the chosen images in index order (the first
    n of one permutation, so smaller draws nest in larger ones).
    """
    idx = torch.randperm(len(split), generator=generator)[: min(images, len(split))]
    if in_order:
        idx = idx.sort().values
    loader = DeviceLoader(
        split.subset(idx),
        batch_size=batch_size,
        device=device,
        mean=mean,
        std=std,
        train_augment=False,
        crop_padding=0,
        shuffle=False,
        drop_last=False,
        generator=generator,
        dtype=dtype,
    )
    return list(loader)
