"""DeviceLoader: augmentation math against torchvision references, RNG determinism, rank slices, batch counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from nasflat.data import DeviceLoader, ImageSplit, crop_flip, cutout_mask, load_dataset

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def _split(n: int = 64, size: int = 8, seed: int = 0) -> ImageSplit:
    g = torch.Generator().manual_seed(seed)
    return ImageSplit(torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g), torch.arange(n))


def _loader(split: ImageSplit, seed: int = 0, **kw: object) -> DeviceLoader:
    args: dict = dict(batch_size=16, device="cpu", mean=MEAN, std=STD, train_augment=True, crop_padding=2)
    args.update(kw)
    return DeviceLoader(split, generator=torch.Generator().manual_seed(seed), **args)


def _normalize(x_uint8: torch.Tensor) -> torch.Tensor:
    return TF.normalize(x_uint8.float() / 255, MEAN, STD)


def test_crop_flip_matches_slicing() -> None:
    split, pad, size = _split(6), 3, 8
    padded = TF.pad(split.images, [pad])
    idx = torch.tensor([5, 0, 2, 2, 4, 1])
    oy, ox = torch.tensor([0, 6, 3, 1, 6, 0]), torch.tensor([6, 0, 3, 2, 6, 0])
    flip = torch.tensor([False, True, False, True, True, False])
    out = crop_flip(padded, idx, oy, ox, flip, size)
    for k in range(len(idx)):
        ref = padded[idx[k], :, oy[k] : oy[k] + size, ox[k] : ox[k] + size]
        assert torch.equal(out[k], TF.hflip(ref) if flip[k] else ref)
    assert torch.equal(crop_flip(padded, idx, oy, ox, None, size)[1], padded[0, :, 6:14, 0:8])


def _darts_cutout(h: int, w: int, cy: int, cx: int, length: int) -> np.ndarray:
    """quark0/darts utils.Cutout's mask for a given center (1 = keep)."""
    mask = np.ones((h, w), np.float32)
    y1, y2 = np.clip(cy - length // 2, 0, h), np.clip(cy + length // 2, 0, h)
    x1, x2 = np.clip(cx - length // 2, 0, w), np.clip(cx + length // 2, 0, w)
    mask[y1:y2, x1:x2] = 0.0
    return mask


@pytest.mark.parametrize("length", [16, 5, 1])
def test_cutout_mask_matches_darts(length: int) -> None:
    h = w = 12
    cy, cx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    masks = cutout_mask(cy.reshape(-1), cx.reshape(-1), length, h, w)
    for k, (y, x) in enumerate(zip(cy.reshape(-1).tolist(), cx.reshape(-1).tolist())):
        assert np.array_equal(~masks[k].numpy(), _darts_cutout(h, w, y, x, length).astype(bool))


@pytest.mark.parametrize(("flip", "cutout"), [(True, 0), (True, 4), (False, 6)])
def test_train_epoch_matches_torchvision_reference(flip: bool, cutout: int) -> None:
    """Whole pipeline vs per-sample torchvision ops, with the documented draw order from the same seed."""
    split, pad, n, size = _split(40), 2, 40, 8
    loader = _loader(split, seed=7, flip=flip, cutout=cutout, drop_last=False)
    got_x, got_y = map(torch.cat, zip(*loader))
    g = torch.Generator().manual_seed(7)
    perm = torch.randperm(n, generator=g)
    oy, ox = torch.randint(2 * pad + 1, (n,), generator=g), torch.randint(2 * pad + 1, (n,), generator=g)
    fl = torch.randint(2, (n,), generator=g) if flip else torch.zeros(n, dtype=torch.long)
    if cutout:
        cy, cx = torch.randint(size, (n,), generator=g), torch.randint(size, (n,), generator=g)
    for k in range(n):
        img = TF.pad(split.images[perm[k]], [pad])  # RandomCrop(size, padding=pad) pads with zeros
        img = TF.crop(img, int(oy[k]), int(ox[k]), size, size)
        img = TF.hflip(img) if fl[k] else img
        ref = _normalize(img)
        if cutout:  # DARTS applies Cutout after Normalize
            ref = ref * torch.from_numpy(_darts_cutout(size, size, int(cy[k]), int(cx[k]), cutout))
        torch.testing.assert_close(got_x[k], ref, rtol=0, atol=1e-5)
    assert torch.equal(got_y, split.labels[perm])


def test_eval_loader_order_values_and_counts() -> None:
    split = _split(10)
    loader = _loader(split, train_augment=False, shuffle=False, drop_last=False, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    x = torch.cat([b[0] for b in batches])
    torch.testing.assert_close(x, _normalize(split.images), rtol=0, atol=1e-5)
    assert torch.cat([b[1] for b in batches]).tolist() == list(range(10))
    dropped = _loader(split, train_augment=False, batch_size=4)
    assert len(dropped) == 2 and [len(y) for _, y in dropped] == [4, 4]


def test_determinism_and_generator_checkpoint() -> None:
    split = _split()
    a, b = _loader(split, seed=1, cutout=4), _loader(split, seed=1, cutout=4)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    state = a.generator.get_state()  # checkpoint after epoch 1
    epoch2 = list(a)
    resumed = _loader(split, seed=999, cutout=4)
    resumed.generator.set_state(state)
    for (x2, y2), (xr, yr) in zip(epoch2, resumed):
        assert torch.equal(x2, xr) and torch.equal(y2, yr)
    first = next(iter(_loader(split, seed=2, cutout=4)))[0]
    assert not torch.equal(first, next(iter(_loader(split, seed=1, cutout=4)))[0])


@pytest.mark.parametrize("drop_last", [False, True])
def test_rank_slices_disjoint_and_covering(drop_last: bool) -> None:
    n, ws = 103, 4
    split = _split(n)
    loaders = [_loader(split, seed=5, rank=r, world_size=ws, batch_size=8, drop_last=drop_last) for r in range(ws)]
    seen = [torch.cat([y for _, y in ld]).tolist() for ld in loaders]
    flat = [i for s in seen for i in s]
    assert len(flat) == len(set(flat))  # disjoint
    if drop_last:
        assert {len(ld) for ld in loaders} == {(n // ws) // 8} and all(len(s) == 24 for s in seen)
    else:
        assert sorted(flat) == list(range(n)) and sum(ld.num_samples for ld in loaders) == n
    states = [ld.generator.get_state() for ld in loaders]
    assert all(torch.equal(s, states[0]) for s in states)  # same draws on every rank


def test_sample_batch() -> None:
    split = _split(50)
    a, b = _loader(split, seed=3, batch_size=20), _loader(split, seed=3, batch_size=20)
    (xa, ya), (xb, yb) = a.sample_batch(), b.sample_batch()
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert xa.shape == (20, 3, 8, 8) and len(set(ya.tolist())) == 20
    assert not torch.equal(a.sample_batch()[1], ya)
    r0 = _loader(split, seed=3, batch_size=20, rank=0, world_size=2).sample_batch()[1]
    r1 = _loader(split, seed=3, batch_size=20, rank=1, world_size=2).sample_batch()[1]
    assert not set(r0.tolist()) & set(r1.tolist())


def test_channels_last_dtype_and_errors() -> None:
    split = _split(32)
    x, y = next(iter(_loader(split, channels_last=True, dtype=torch.bfloat16)))
    assert x.dtype == torch.bfloat16 and y.dtype == torch.int64
    assert x.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="no batches"):
        _loader(split, batch_size=64)
    with pytest.raises(ValueError, match="rank 2"):
        _loader(split, rank=2, world_size=2)


def test_digits_through_loader() -> None:
    ds = load_dataset("digits", "unused")
    loader = DeviceLoader(
        ds.train,
        batch_size=128,
        device="cpu",
        mean=ds.mean,
        std=ds.std,
        train_augment=True,
        crop_padding=ds.crop_padding,
        cutout=8,
        generator=torch.Generator().manual_seed(0),
    )
    xs = torch.cat([x for x, _ in loader])
    assert len(loader) == 1400 // 128 and xs.shape == (len(loader) * 128, 3, 16, 16)
    evals = DeviceLoader(
        ds.test,
        batch_size=397,
        device="cpu",
        mean=ds.mean,
        std=ds.std,
        train_augment=False,
        crop_padding=0,
        shuffle=False,
        generator=torch.Generator(),
    )
    x, _ = next(iter(evals))
    assert abs(x.mean().item()) < 0.1 and abs(x.std().item() - 1) < 0.1  # constants fit the held-out split too


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_with_cpu_generator() -> None:
    split = _split()
    cpu, gpu = _loader(split, seed=4, cutout=4), _loader(split, seed=4, cutout=4, device="cuda")
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert xg.is_cuda and torch.equal(yc, yg.cpu())
        torch.testing.assert_close(xc, xg.cpu(), rtol=0, atol=1e-6)
