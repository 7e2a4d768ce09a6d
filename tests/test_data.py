"""Dataset loading: real CIFAR-10 subset, ImageNet16 fixture, digits, missing-file messages, unsafe pickles."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nasflat.data import (
    DATASET_NAMES,
    DIGITS_MEAN,
    DIGITS_STD,
    NORMALIZATION,
    DatasetNotFoundError,
    ImageSplit,
    UnsafePickleError,
    check_dataset,
    load_dataset,
    load_pickle,
    read_split_file,
    search_split,
)


@pytest.fixture(scope="module")
def cifar10_small(cifar10_pack: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real CIFAR-10 subset (100 train / 20 test images per class) in the official python layout."""
    root = tmp_path_factory.mktemp("cifar10")
    cmd = [sys.executable, str(cifar10_pack / "materialize.py"), "--out", str(root)]
    subprocess.run([*cmd, "--per-class-train", "100", "--per-class-test", "20"], check=True, capture_output=True)
    return root


# ---------------------------------------------------------------- CIFAR


def test_cifar10_real_subset(cifar10_small: Path) -> None:
    with pytest.warns(UserWarning, match=r"md5 of data_batch_1.*differs from the official"):
        ds = load_dataset("cifar10", cifar10_small)
    assert (len(ds.train), len(ds.test), ds.num_classes, ds.crop_padding) == (1000, 200, 10, 4)
    assert ds.train.images.dtype == torch.uint8 and ds.train.images.shape[1:] == (3, 32, 32)
    assert torch.equal(torch.bincount(ds.train.labels), torch.full((10,), 100))
    assert ds.test.labels[:5].tolist() == [3, 8, 8, 0, 6]  # official test order (PROVENANCE.md)
    assert (ds.mean, ds.std) == NORMALIZATION["cifar10"] and ds.test_halves is None
    assert "md5 differs" in ds.source and "cifar-10-batches-py" in ds.source
    # R, G, B planes (CHW) as in the file, read independently with the bytes recipe of the CIFAR web page
    with open(cifar10_small / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    assert torch.equal(ds.train.images[0], torch.from_numpy(raw[b"data"][0].reshape(3, 32, 32)))
    assert ds.train.labels[: len(raw[b"labels"])].tolist() == raw[b"labels"]


def test_normalization_override(cifar10_small: Path) -> None:
    with pytest.warns(UserWarning, match="md5"):
        ds = load_dataset("cifar10", cifar10_small, mean=[0.4914, 0.4822, 0.4465], std=(0.2470, 0.2435, 0.2616))
    assert ds.mean == (0.4914, 0.4822, 0.4465) and ds.std == (0.2470, 0.2435, 0.2616)
    with pytest.raises(ValueError, match="RGB"), pytest.warns(UserWarning):
        load_dataset("cifar10", cifar10_small, mean=[0.5])


def test_cifar10_missing_message(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar10", tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str((tmp_path / "cifar-10-batches-py").resolve()) in msg
    for needle in ("data_batch_1", "test_batch", "cifar-10-python.tar.gz", "dataset.download=true", "NASFLAT_DATA"):
        assert needle in msg


def test_download_failure_is_dataset_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.utils as tvu

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(tvu, "download_and_extract_archive", offline)
    with pytest.raises(DatasetNotFoundError, match=r"failed.*network is unreachable") as err:
        load_dataset("cifar100", tmp_path, download=True)
    assert str((tmp_path / "cifar-100-python").resolve()) in str(err.value)


def _write_cifar100(root: Path, n_test: int) -> None:
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    for name, n in (("train", 200), ("test", n_test)):
        data = (np.arange(n * 3072) % 251).astype(np.uint8).reshape(n, 3072)
        with open(d / name, "wb") as f:
            pickle.dump({"data": data, "fine_labels": [i % 100 for i in range(n)], "coarse_labels": [0] * n}, f, 2)


def test_cifar100_test_halves(tmp_path: Path, nb201_splits: Path) -> None:
    _write_cifar100(tmp_path, 10_000)
    with pytest.warns(UserWarning, match="md5"):
        ds = load_dataset("cifar100", tmp_path, split_dir=nb201_splits)
    assert ds.num_classes == 100 and ds.mean == NORMALIZATION["cifar100"][0]
    assert {k: len(v) for k, v in ds.test_halves.items()} == {"valid": 5000, "test": 5000}
    # the halves partition the test set: together they hold every test label once
    both = torch.cat([ds.test_halves["valid"].labels, ds.test_halves["test"].labels])
    assert torch.equal(torch.bincount(both), torch.bincount(ds.test.labels))


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="valid names: cifar10, cifar100, imagenet16_120, digits"):
        load_dataset("mnist", ".")
    assert "digits" in DATASET_NAMES


# ---------------------------------------------------------------- ImageNet16-120


def _imagenet16_dir(fixture: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for i in range(1, 11):  # the fixture has one train batch; reuse it as all ten
        (target / f"train_data_batch_{i}").symlink_to(fixture / "train_data_batch_1")
    (target / "val_data").symlink_to(fixture / "val_data")
    return target


def test_imagenet16_fixture(imagenet16_fixture: Path, tmp_path: Path) -> None:
    _imagenet16_dir(imagenet16_fixture, tmp_path / "ImageNet16")
    raw = load_pickle(imagenet16_fixture / "train_data_batch_1")
    raw_val = load_pickle(imagenet16_fixture / "val_data")
    keep = np.asarray(raw["labels"]) <= 120
    assert 0 < keep.sum() < len(keep)  # the fixture exercises the 120-class filter
    with pytest.warns(UserWarning, match="md5"):
        ds = load_dataset("imagenet16_120", tmp_path)
    assert len(ds.train) == 10 * keep.sum() and len(ds.test) == int((np.asarray(raw_val["labels"]) <= 120).sum())
    assert ds.train.labels.min() == 0 and ds.train.labels.max() <= 119 and ds.test.labels.max() <= 119
    assert (ds.num_classes, ds.crop_padding, ds.train.images.shape[1:]) == (120, 2, (3, 16, 16))
    first = int(np.flatnonzero(keep)[0])
    assert torch.equal(ds.train.images[0], torch.from_numpy(raw["data"][first].reshape(3, 16, 16)))  # CHW planes
    assert ds.train.labels[0] == raw["labels"][first] - 1
    assert (ds.mean, ds.std) == NORMALIZATION["imagenet16_120"]


def test_imagenet16_files_in_root_and_missing(imagenet16_fixture: Path, tmp_path: Path) -> None:
    _imagenet16_dir(imagenet16_fixture, tmp_path)  # files directly in root are accepted too
    with pytest.warns(UserWarning, match="md5"):
        assert len(load_dataset("imagenet16_120", tmp_path).test) > 0
    (tmp_path / "val_data").unlink()
    (tmp_path / "train_data_batch_7").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("imagenet16_120", tmp_path, download=True)
    msg = str(err.value)
    assert str(tmp_path.resolve()) in msg and "missing: train_data_batch_7, val_data" in msg
    assert "AutoDL-Projects" in msg and "cannot be downloaded automatically" in msg


def test_imagenet16_split_file_size_mismatch(imagenet16_fixture: Path, tmp_path: Path, nb201_splits: Path) -> None:
    _imagenet16_dir(imagenet16_fixture, tmp_path / "ImageNet16")
    with pytest.raises(ValueError, match="indexes 6000 test images"), pytest.warns(UserWarning):
        load_dataset("imagenet16_120", tmp_path, split_dir=nb201_splits)


# ---------------------------------------------------------------- digits


def test_digits_constants() -> None:
    ds = load_dataset("digits", "unused")
    assert (len(ds.train), len(ds.test), ds.num_classes, ds.crop_padding) == (1400, 397, 10, 2)
    assert ds.train.images.shape[1:] == (3, 16, 16) and ds.train.images.dtype == torch.uint8
    assert torch.equal(ds.train.images[:, 0], ds.train.images[:, 2])
    counts = torch.bincount(ds.test.labels, minlength=10)
    assert counts.min() >= 39 and counts.max() <= 40  # stratified
    x = ds.train.images.double() / 255
    assert x.mean().item() == pytest.approx(DIGITS_MEAN[0], abs=1e-5)
    assert x.std(unbiased=False).item() == pytest.approx(DIGITS_STD[0], abs=1e-5)
    again = load_dataset("digits", "unused")
    assert torch.equal(again.test.images, ds.test.images) and torch.equal(again.train.labels, ds.train.labels)


# ---------------------------------------------------------------- unsafe pickles


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


class _EvalEvil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return eval, ("1 + 1",)


@pytest.mark.parametrize("maker", ["system", "eval", "codec"])
def test_unsafe_pickle_rejected(tmp_path: Path, maker: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.parent.mkdir()
    if maker == "codec":  # an admitted global abused with a non-latin-1 codec
        payload = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R."
    else:
        payload = pickle.dumps({"data": _Evil(marker) if maker == "system" else _EvalEvil()}, protocol=2)
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError) as err:
        load_pickle(path)
    assert str(path) in str(err.value)
    if maker == "system":
        assert f"{os.system.__module__}.system" in str(err.value)
    if maker == "eval":
        assert "builtin__.eval" in str(err.value)  # protocol 2 spells builtins as __builtin__
    assert not marker.exists()


def test_bytes_and_str_keys(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.uint8).reshape(2, 6)
    for i, obj in enumerate([{b"data": arr, b"labels": [1, 2]}, {"data": arr, "labels": [1, 2]}]):
        path = tmp_path / f"p{i}"
        path.write_bytes(pickle.dumps(obj, protocol=2 + i * 3))
        out = load_pickle(path)
        assert set(out) == {"data", "labels"} and np.array_equal(out["data"], arr)


# ---------------------------------------------------------------- splits and check


def test_image_split_validation() -> None:
    with pytest.raises(ValueError, match="uint8"):
        ImageSplit(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.int64))
    s = ImageSplit(torch.zeros(4, 3, 2, 2, dtype=torch.uint8), torch.arange(4))
    assert s.subset([3, 1]).labels.tolist() == [3, 1] and len(s.subset(np.array([0]))) == 1


def test_check_dataset(cifar10_small: Path, tmp_path: Path) -> None:
    ok = check_dataset("cifar10", cifar10_small)
    assert ok.ok and ok.loadable and ok.num_train == 1000 and not ok.missing and "md5" in ok.warnings[0]
    assert "OK" in ok.to_text() and ok.to_dict()["files"][0]["size"] > 0
    bad = check_dataset("cifar100", tmp_path)
    assert not bad.loadable and bad.missing == ["train", "test"]
    text = bad.to_text()
    assert str((tmp_path / "cifar-100-python").resolve()) in text and "cifar-100-python.tar.gz" in text
    assert bad.to_dict()["missing"] == ["train", "test"]
    assert check_dataset("digits", tmp_path).loadable


# ---------------------------------------------------------------- search splits


def _indexed_split(n: int) -> ImageSplit:
    """Tiny images whose label is their index, so subsets reveal which samples they hold."""
    return ImageSplit(torch.zeros(n, 3, 1, 1, dtype=torch.uint8), torch.arange(n))


def test_search_split_random_and_first() -> None:
    train = _indexed_split(101)
    a_train, a_val = search_split(train, seed=3)
    b = search_split(train, seed=3)
    assert torch.equal(a_train.labels, b.train.labels) and torch.equal(a_val.labels, b.val.labels)
    assert (len(a_train), len(a_val)) == (50, 51)  # floor(portion * n) to train, as DARTS
    assert sorted(torch.cat([a_train.labels, a_val.labels]).tolist()) == list(range(101))
    assert not torch.equal(search_split(train, seed=4).train.labels, a_train.labels)
    first = search_split(train, seed=0, method="first", portion=0.25)
    assert first.train.labels.tolist() == list(range(25)) and first.val.labels.tolist() == list(range(25, 101))
    assert first.describe() == {"method": "first", "seed": None, "num_train": 25, "num_val": 76, "source": None}
    with pytest.raises(ValueError, match="valid: random, first, nb201"):
        search_split(train, seed=0, method="halves")


def test_nb201_split_file(nb201_splits: Path) -> None:
    idx = read_split_file(nb201_splits / "cifar-split.txt")
    assert (len(idx["train"]), len(idx["valid"])) == (25_000, 25_000)
    assert np.array_equal(np.sort(np.concatenate([idx["train"], idx["valid"]])), np.arange(50_000))
    split = search_split(_indexed_split(50_000), seed=0, method="nb201", split_dir=nb201_splits, dataset_name="cifar10")
    assert split.method == "nb201" and np.array_equal(split.train.labels.numpy(), idx["train"])
    assert split.describe()["source"].endswith("cifar-split.txt")
    with pytest.raises(ValueError, match=r"only defined for cifar10.*test_halves"):
        search_split(_indexed_split(10), seed=0, method="nb201", split_dir=nb201_splits, dataset_name="cifar100")
    with pytest.raises(ValueError, match="indexes 50000 images but the training set has 1000"):
        search_split(_indexed_split(1000), seed=0, method="nb201", split_dir=nb201_splits, dataset_name="cifar10")


def test_downsampled_is_the_rounded_block_mean():
    img = torch.arange(48, dtype=torch.uint8).reshape(1, 3, 4, 4) * 5
    small = ImageSplit(img, torch.zeros(1, dtype=torch.int64)).downsampled(2)
    by_hand = [
        [[img[0, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].double().mean() for j in range(2)] for i in range(2)]
        for c in range(3)
    ]
    assert small.images.dtype == torch.uint8 and small.images.shape == (1, 3, 2, 2)
    assert small.images[0].tolist() == [[[round(float(v)) for v in row] for row in ch] for ch in by_hand]
    with pytest.raises(ValueError, match=r"dataset\.resolution=3 must divide the image size 4"):
        ImageSplit(img, torch.zeros(1, dtype=torch.int64)).downsampled(3)


def test_data_spec_resolution_downsamples_every_split_and_scales_the_padding():
    from nasflat.context import DataSpec

    full, half = DataSpec(name="digits").load(0), DataSpec(name="digits", resolution=8).load(0)
    assert set(half.splits) == set(full.splits)
    for name, split in half.splits.items():
        assert split.images.shape[-2:] == (8, 8)
        assert torch.equal(split.images, full.splits[name].downsampled(8).images)
        assert torch.equal(split.labels, full.splits[name].labels)
    assert (full.crop_padding, half.crop_padding) == (2, 1)
