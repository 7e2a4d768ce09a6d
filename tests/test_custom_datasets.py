"""Your own data (dataset=image_folder, dataset=array): built from the embedded digits, so every loaded tensor and
every run can be compared with the built-in digits dataset; plus each refusal of bad input."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import DEMO_TINY, nasflat, results_of
from nasflat.context import DataSpec, SearchContext
from nasflat.data import (
    DIGITS_MEAN,
    DIGITS_STD,
    DatasetFileError,
    DatasetNotFoundError,
    ImageSplit,
    ReadOptions,
    check_dataset,
    dataset_identity,
    load_dataset,
)
from nasflat.data.custom import config_problems
from nasflat.data.digits import build_digits
from nasflat.data.splits import search_split
from nasflat.rng import Purpose, stream_seed


def _write_images(folder: Path, split: ImageSplit, names: list[str] | None = None) -> None:
    """One PNG per image in folder/<label>/<index>.png (the index keeps the split's order)."""
    for i, (img, label) in enumerate(zip(split.images, split.labels, strict=True)):
        d = folder / (names[int(label)] if names else str(int(label)))
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(d / f"{i:05d}.png")


def _interleaved(split: ImageSplit) -> ImageSplit:
    """The order an image folder is read in: image r of a class of n at (r + 0.5) / n, ties in class order."""
    labels = split.labels.numpy()
    rank = np.empty(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[members] = (np.arange(len(members)) + 0.5) / len(members)
    return split.subset(np.lexsort((labels, rank)))


def _save_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def digits() -> tuple[ImageSplit, ImageSplit]:
    return build_digits()


@pytest.fixture(scope="module")
def digits_folder(digits: tuple[ImageSplit, ImageSplit], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("custom") / "digits_folder"
    _write_images(root / "train", digits[0])
    _write_images(root / "test", digits[1])
    return root


@pytest.fixture(scope="module")
def digits_npz(digits: tuple[ImageSplit, ImageSplit], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x_train grey (C=1, replicated on loading), x_test RGB (C=3)."""
    train, test = digits
    return _save_npz(
        tmp_path_factory.mktemp("custom") / "digits.npz",
        x_train=train.images[:, 0].numpy()[..., None],
        y_train=train.labels.numpy(),
        x_test=test.images.permute(0, 2, 3, 1).numpy(),
        y_test=test.labels.numpy().astype(np.uint8),
    )


@pytest.fixture(scope="module")
def interleaved_npz(digits: tuple[ImageSplit, ImageSplit], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits in the order ``digits_folder`` is read in: the same images in the same order."""
    train, test = (_interleaved(s) for s in digits)
    return _save_npz(
        tmp_path_factory.mktemp("custom") / "interleaved.npz",
        x_train=train.images.permute(0, 2, 3, 1).numpy(),
        y_train=train.labels.numpy(),
        x_test=test.images.permute(0, 2, 3, 1).numpy(),
        y_test=test.labels.numpy(),
    )


def _array_arrays(digits: tuple[ImageSplit, ImageSplit]) -> dict[str, np.ndarray]:
    train, test = digits
    return {
        "x_train": train.images.permute(0, 2, 3, 1).numpy()[:40],
        "y_train": train.labels.numpy()[:40],
        "x_test": test.images.permute(0, 2, 3, 1).numpy()[:20],
        "y_test": test.labels.numpy()[:20],
    }


# ---------------------------------------------------------------- what is loaded


def test_image_folder_loads_the_digits_exactly(digits, digits_folder: Path) -> None:
    ds = load_dataset("image_folder", digits_folder)
    train, test = (_interleaved(s) for s in digits)
    assert torch.equal(ds.train.images, train.images) and torch.equal(ds.train.labels, train.labels)
    assert torch.equal(ds.test.images, test.images) and torch.equal(ds.test.labels, test.labels)
    assert ds.name == "image_folder:digits_folder" and ds.classes == [str(k) for k in range(10)]
    assert (ds.num_classes, ds.image_size, ds.crop_padding) == (10, 16, 2)  # padding as digits / ImageNet16
    assert "train/ and test/ folders" in ds.source and "no NB201 table accuracies" in ds.source


def test_array_loads_the_digits_exactly_grey_replicated(digits, digits_npz: Path) -> None:
    ds = load_dataset("array", "", options=ReadOptions(path=str(digits_npz)))
    train, test = digits
    assert torch.equal(ds.train.images, train.images) and torch.equal(ds.train.labels, train.labels)
    assert torch.equal(ds.test.images, test.images) and torch.equal(ds.test.labels, test.labels)
    assert ds.name == "array:digits.npz" and ds.classes is None and ds.num_classes == 10
    assert "grey replicated to RGB" in ds.source
    more = load_dataset("array", "", options=ReadOptions(path=str(digits_npz), num_classes=12))
    assert more.num_classes == 12  # classes without images are allowed when named


def test_mean_std_are_the_training_images_statistics(digits, digits_npz: Path, tmp_path: Path) -> None:
    ds = load_dataset("array", "", options=ReadOptions(path=str(digits_npz)))
    x = digits[0].images.numpy().astype(np.float64) / 255
    assert ds.mean == pytest.approx(tuple(x.mean(axis=(0, 2, 3))), rel=1e-12, abs=0)
    assert ds.std == pytest.approx(tuple(x.std(axis=(0, 2, 3))), rel=1e-12, abs=0)
    assert f"mean ({ds.mean[0]!r}, " in ds.source and "computed from the 1,400 training images" in ds.source
    # the test images are never used: brightening them all leaves the statistics unchanged
    arrays = _array_arrays(digits)
    bright = _save_npz(tmp_path / "bright.npz", **{**arrays, "x_test": np.full_like(arrays["x_test"], 255)})
    plain = _save_npz(tmp_path / "plain.npz", **arrays)
    a, b = (load_dataset("array", "", options=ReadOptions(path=str(p))) for p in (plain, bright))
    assert (a.mean, a.std) == (b.mean, b.std)
    given = load_dataset("array", "", mean=[0.5, 0.4, 0.3], std=[0.2, 0.2, 0.2], options=ReadOptions(path=str(plain)))
    assert (given.mean, given.std) == ((0.5, 0.4, 0.3), (0.2, 0.2, 0.2)) and "given" in given.source


def test_single_folder_is_split_per_class_with_a_fixed_seed(digits, tmp_path: Path) -> None:
    root = tmp_path / "flat"
    names = [f"class_{k}" for k in range(10)]
    _write_images(root, digits[1], names)  # the 397 digits test images, classes directly under root
    (root / "README.txt").write_text("not an image: skipped")
    options = ReadOptions(test_portion=0.25, split_seed=0)
    ds = load_dataset("image_folder", root, options=options)
    assert (len(ds.train), len(ds.test)) == (298, 99) and ds.classes == names
    per_class = torch.bincount(digits[1].labels, minlength=10).double()
    assert torch.all((torch.bincount(ds.test.labels, minlength=10) - 0.25 * per_class).abs() <= 1)  # stratified
    every = torch.cat([ds.train.images, ds.test.images]).flatten(1)
    assert sorted(map(bytes, every.numpy())) == sorted(map(bytes, digits[1].images.flatten(1).numpy()))
    again = load_dataset("image_folder", root, options=options)
    other = load_dataset("image_folder", root, options=ReadOptions(test_portion=0.25, split_seed=1))
    assert torch.equal(again.test.images, ds.test.images) and not torch.equal(other.test.images, ds.test.images)
    assert "dataset.test_portion=0.25 of each class held out with dataset.split_seed=0" in ds.source


def test_search_split_and_resolution_as_for_digits(digits, digits_folder: Path, digits_npz: Path) -> None:
    folder = DataSpec(name="image_folder", root=str(digits_folder), split_method="random").load(3)
    halves = search_split(_interleaved(digits[0]), seed=stream_seed(3, Purpose.SPLIT), method="random")
    assert torch.equal(folder.splits["search_train"].images, halves.train.images)
    assert torch.equal(folder.splits["search_val"].images, halves.val.images)
    assert folder.name == "image_folder:digits_folder" and folder.split["method"] == "random"
    assert DataSpec(name="image_folder", root=str(digits_folder)).label == folder.name
    assert DataSpec(name="array", path=str(digits_npz)).label == "array:digits.npz"
    assert DataSpec(name="cifar10").label == "cifar10"
    first = DataSpec(name="image_folder", root=str(digits_folder), split_method="first", split_portion=0.25).load(0)
    assert torch.equal(first.splits["search_train"].images, folder.splits["train"].images[:350])
    small = DataSpec(name="array", path=str(digits_npz), resolution=8, split_method="first").load(0)
    small_builtin = DataSpec(name="digits", resolution=8, split_method="first").load(0)
    assert small.crop_padding == small_builtin.crop_padding == 1
    assert torch.equal(small.splits["train"].images, small_builtin.splits["train"].images)


def test_mixed_sizes_are_refused_unless_resolution_is_set(tmp_path: Path) -> None:
    for name, size, value in (("a", (16, 16), 10), ("b", (24, 20), 200)):
        for split in ("train", "test"):
            (tmp_path / split / name).mkdir(parents=True)
            Image.new("RGB", size, (value,) * 3).save(tmp_path / split / name / "0.png")
    with pytest.raises(DatasetFileError) as err:
        load_dataset("image_folder", tmp_path)
    msg = str(err.value)
    first, odd = tmp_path / "train" / "a" / "0.png", tmp_path / "train" / "b" / "0.png"
    assert f"{odd} is 24x20 but {first} is 16x16" in msg and "dataset.resolution=16" in msg
    ds = load_dataset("image_folder", tmp_path, options=ReadOptions(resolution=8))
    assert ds.image_size == 8 and ds.crop_padding == 1 and "resized to 8x8 on reading" in ds.source
    assert ds.train.images[0].unique().tolist() == [10] and ds.train.images[1].unique().tolist() == [200]


def test_nb201_note_once_in_the_log_when_a_table_is_configured(
    digits_npz: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from nasflat.spaces.nb201 import NB201Space

    spec = DataSpec(name="array", path=str(digits_npz), max_train=32, max_test=16)
    with caplog.at_level(logging.WARNING):  # a logging record: Hydra's job logging puts it in cli.log and on stderr
        ctx = SearchContext(space=NB201Space(), seed=0, data_spec=spec, table=object())
        assert ctx.data.num_classes == 10 and ctx.data.name == "array:digits.npz"
        assert ctx.data.num_classes == 10  # loaded once: said once
    notes = [r for r in caplog.records if "has no NB201 table accuracies" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.WARNING and notes[0].name == "nasflat.context"
    assert notes[0].getMessage().startswith("dataset array:digits.npz has no NB201 table accuracies")


def test_run_identity_follows_the_data_files(digits, tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    _write_images(root, ImageSplit(digits[1].images[:6], digits[1].labels[:6]))
    before = dataset_identity({"name": "image_folder", "root": str(root)})
    (entry,) = before.values()
    assert entry["files"] == 6 and entry["path"] == str(root.resolve())
    assert dataset_identity({"name": "image_folder", "root": str(root)}) == before
    png = next(root.rglob("*.png"))
    Image.new("RGB", (16, 16)).save(png)
    os.utime(png, ns=(1, 1))  # a rewrite with an old mtime still changes the size or the digest
    assert dataset_identity({"name": "image_folder", "root": str(root)}) != before
    npz = _save_npz(tmp_path / "a.npz", **_array_arrays(digits))
    ident = dataset_identity({"name": "array", "path": str(npz), "root": ""})
    assert ident == {
        "dataset/a.npz": {"path": str(npz.resolve()), "size": npz.stat().st_size, "mtime_ns": npz.stat().st_mtime_ns}
    }
    cifar = dataset_identity({"name": "cifar10", "root": str(tmp_path)})
    assert sorted(cifar)[0] == "dataset/data_batch_1" and len(cifar) == 6


# ---------------------------------------------------------------- refusals: image folders


def _refused(root: Path, options: ReadOptions | None = None) -> str:
    with pytest.raises((DatasetFileError, DatasetNotFoundError)) as err:
        load_dataset("image_folder", root, options=options)
    return str(err.value)


def _tiny_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), n: int = 3) -> Path:
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i * 40, 10 + i, 200 - i)).save(root / c / f"{i}.png")
    return root


def test_folder_refusals_name_the_path_and_the_fix(tmp_path: Path) -> None:
    msg = _refused(tmp_path / "nowhere")
    assert "dataset.root=" in msg and "does not exist" in msg and "one sub-folder per class" in msg
    (tmp_path / "file.png").write_bytes(b"")
    assert "is a file, not a folder" in _refused(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    msg = _refused(tmp_path / "empty")
    assert f"{tmp_path / 'empty'} has no class sub-folders" in msg and "DIR/<class>/<image>" in msg
    root = _tiny_folder(tmp_path / "no_images")
    (root / "bird").mkdir()
    (root / "bird" / "notes.txt").write_text("x")
    msg = _refused(root)
    assert f"{root / 'bird'} holds no images" in msg and "remove the folder" in msg
    root = _tiny_folder(tmp_path / "corrupt")
    (root / "dog" / "9.png").write_bytes(b"not a png at all")
    msg = _refused(root)
    assert f"{root / 'dog' / '9.png'} cannot be read as an image" in msg and "Replace it" in msg
    root = _tiny_folder(tmp_path / "truncated")
    good = (root / "cat" / "0.png").read_bytes()
    (root / "cat" / "5.png").write_bytes(good[: len(good) // 2])
    assert f"{root / 'cat' / '5.png'} cannot be read as an image" in _refused(root)


def test_folder_layout_and_size_refusals(tmp_path: Path) -> None:
    root = _tiny_folder(tmp_path / "wide")
    for p in root.rglob("*.png"):
        Image.new("RGB", (10, 8)).save(p)
    msg = _refused(root)
    assert "is 10x8, not square" in msg and "dataset.resolution=8" in msg
    half = _tiny_folder(tmp_path / "half" / "train")
    msg = _refused(half.parent)
    assert "has a train/ folder but no test/ folder" in msg and str(half.parent / "test") in msg
    both = tmp_path / "both"
    _tiny_folder(both / "train", ("cat", "dog"))
    _tiny_folder(both / "test", ("cat", "emu"))
    msg = _refused(both)
    assert f"{both / 'test'} has other class folders" in msg and "dog, emu" in msg
    root = _tiny_folder(tmp_path / "count")
    msg = _refused(root, ReadOptions(num_classes=3))
    assert "has 2 class folders but dataset.num_classes=3" in msg and "dataset.num_classes=null" in msg
    msg = _refused(root, ReadOptions(test_portion=0.01))
    assert "holds 6 images, and dataset.test_portion=0.01 leaves 0 for testing" in msg


# ---------------------------------------------------------------- refusals: .npz arrays


def _array_refused(path: Path, num_classes: int | None = None, resolution: int | None = None) -> str:
    with pytest.raises((DatasetFileError, DatasetNotFoundError)) as err:
        options = ReadOptions(path=str(path), num_classes=num_classes, resolution=resolution)
        load_dataset("array", "", options=options)
    return str(err.value)


def test_array_file_refusals(digits, tmp_path: Path) -> None:
    arrays = _array_arrays(digits)
    msg = _array_refused(tmp_path / "missing.npz")
    assert "dataset.path=" in msg and "does not exist" in msg and "numpy.savez" in msg
    (tmp_path / "garbage.npz").write_bytes(b"\x00" * 64)
    assert f"{tmp_path / 'garbage.npz'} is not a readable .npz archive" in _array_refused(tmp_path / "garbage.npz")
    np.save(tmp_path / "single.npy", arrays["x_train"])
    assert "holds a single array (.npy), not an .npz archive" in _array_refused(tmp_path / "single.npy")
    no_test = _save_npz(tmp_path / "keys.npz", x_train=arrays["x_train"], y_train=arrays["y_train"])
    msg = _array_refused(no_test)
    assert f"{no_test} lacks the key(s) 'x_test', 'y_test' (has 'x_train', 'y_train')" in msg and "x_test=" in msg
    objects = np.empty(20, dtype=object)
    pickled = _save_npz(tmp_path / "obj.npz", **{**arrays, "y_test": objects})
    assert "is not a readable .npz archive" in _array_refused(pickled)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"x_train": "float"}, "has 'x_train' of dtype float32, expected uint8 pixel values 0..255"),
        ({"x_train": "3d"}, "has 'x_train' of shape (40, 16, 16), expected 4-D (N, H, W, C)"),
        ({"x_test": "chw"}, "16 channels last, expected C = 1 (grey) or 3 (RGB)"),
        ({"x_train": "4ch"}, "4 channels last, expected C = 1 (grey) or 3 (RGB)"),
        ({"x_train": "wide"}, "16x12 images are not square"),
        ({"x_test": "small"}, "has x_train images of 16x16 but x_test images of 8x8"),
        ({"y_train": "short"}, "has 40 images in 'x_train' but 39 labels in 'y_train'"),
        ({"y_test": "negative"}, "has negative labels in 'y_test' (min -1)"),
        ({"y_train": "float"}, "has 'y_train' of dtype float64 and shape (40,), expected a 1-D array of integer"),
        ({"y_test": "2d"}, "has 'y_test' of dtype int64 and shape (20, 1), expected a 1-D array of integer"),
    ],
)
def test_array_content_refusals(digits, tmp_path: Path, change: dict[str, str], expected: str) -> None:
    arrays = _array_arrays(digits)
    ((key, how),) = change.items()
    x = arrays[key]
    arrays[key] = {
        "float": lambda: x.astype(np.float32) if key.startswith("x") else x.astype(np.float64),
        "3d": lambda: x[..., 0],
        "chw": lambda: x.transpose(0, 3, 1, 2),
        "4ch": lambda: np.concatenate([x, x[..., :1]], axis=3),
        "wide": lambda: x[:, :, :12],
        "small": lambda: x[:, :8, :8],
        "short": lambda: x[:-1],
        "negative": lambda: np.where(np.arange(len(x)) == 3, -1, x).astype(np.int64),
        "2d": lambda: x[:, None].astype(np.int64),
    }[how]()
    path = _save_npz(tmp_path / "bad.npz", **arrays)
    msg = _array_refused(path)
    assert msg.startswith(str(path)) and expected in msg and "numpy.savez" in msg
    if how == "chw":
        assert "looks channels-first: store x.transpose(0, 2, 3, 1)" in msg


def test_labels_at_or_above_num_classes_are_refused(digits, tmp_path: Path) -> None:
    path = _save_npz(tmp_path / "a.npz", **_array_arrays(digits))
    top = int(max(_array_arrays(digits)["y_train"].max(), _array_arrays(digits)["y_test"].max()))
    msg = _array_refused(path, num_classes=top)
    assert f"has label {top} in " in msg and f"dataset.num_classes={top} (labels must be 0..{top - 1})" in msg


# ---------------------------------------------------------------- config and `nasflat data check`


def test_nb201_split_files_are_checked_at_validation(digits_npz: Path, tmp_path: Path) -> None:
    found = config_problems("dataset", {"name": "array", "path": str(digits_npz), "split_method": "nb201"})
    assert found == [
        (
            "dataset.split_method",
            "nb201",
            "NB201's split file indexes CIFAR-10's training set, not dataset=array",
            "random | first | null (the method's official split: first for the DARTS family, else random)",
        )
    ]
    assert [p[:3] for p in config_problems("dataset", {"name": "digits", "split_method": "nb201"})] == [
        ("dataset.split_method", "nb201", "NB201's split file indexes CIFAR-10's training set, not dataset=digits")
    ]
    (no_dir,) = config_problems("dataset", {"name": "cifar10", "split_method": "nb201"})
    assert no_dir[:2] == ("dataset.split_dir", None) and "cifar-split.txt" in no_dir[2]
    (no_file,) = config_problems("dataset", {"name": "cifar10", "split_method": "nb201", "split_dir": str(tmp_path)})
    assert no_file[:2] == ("dataset.split_dir", str(tmp_path)) and no_file[2].endswith("cifar-split.txt does not exist")
    (tmp_path / "cifar-split.txt").write_text("{}")
    assert config_problems("dataset", {"name": "cifar10", "split_method": "nb201", "split_dir": str(tmp_path)}) == []
    (halves,) = config_problems("dataset", {"name": "cifar100", "split_dir": str(tmp_path)})  # valid/test halves
    assert halves[:2] == ("dataset.split_dir", str(tmp_path)) and "cifar100-test-split.txt does not exist" in halves[2]
    (tmp_path / "cifar100-test-split.txt").write_text("{}")
    assert config_problems("dataset", {"name": "cifar100", "split_dir": str(tmp_path)}) == []
    assert config_problems("dataset", {"name": "imagenet16_120", "split_dir": None}) == []
    bad = config_problems("dataset", {"name": "image_folder", "test_portion": 1.0, "num_classes": 1})
    assert [p[0] for p in bad] == ["dataset.root", "dataset.test_portion", "dataset.num_classes"]
    assert bad[0][1:3] == (None, "required: pass dataset.root=DIR")
    (gone,) = config_problems("dataset", {"name": "array", "path": str(digits_npz.parent / "none.npz")})
    assert gone[0] == "dataset.path" and gone[2].startswith("does not exist (looked at ")
    (folder,) = config_problems("dataset", {"name": "image_folder", "root": str(digits_npz)})
    assert folder[0] == "dataset.root" and folder[2].startswith("is a file")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("dataset=image_folder",), "config error: dataset.root=null: required: pass dataset.root=DIR"),
        (("dataset=array", "dataset.path=nowhere.npz"), "config error: dataset.path=nowhere.npz: does not exist"),
    ],
)
def test_missing_data_is_a_config_error_before_any_run_directory(tmp_path: Path, args: tuple, expected: str) -> None:
    proc = nasflat("search", *DEMO_TINY, *args, f"out_root={tmp_path / 'out'}")
    assert proc.returncode == 2 and expected in proc.stderr
    # no run was claimed: no lock, identity or config; at most Hydra's empty job log
    assert {f.name for f in (tmp_path / "out").rglob("*") if f.is_file()} <= {"cli.log"}


def test_check_dataset_reports_contents_and_problems(digits_folder: Path, tmp_path: Path) -> None:
    ok = check_dataset("image_folder", digits_folder)
    assert ok.ok and (ok.num_train, ok.num_test, ok.num_classes, ok.image_size) == (1400, 397, 10, 16)
    assert ok.class_counts is not None and sum(ok.class_counts["test"]) == 397
    text = ok.to_text()
    assert "dataset image_folder:digits_folder: OK" in text and "image size: 16x16 RGB" in text
    assert "classes: 10 (0, 1, 2" in text and "images per class: train 135..143, test 39..40" in text
    root = _tiny_folder(tmp_path / "bad")
    (root / "dog" / "7.png").write_bytes(b"junk")
    bad = check_dataset("image_folder", root)
    assert not bad.ok and bad.error is not None and str(root / "dog" / "7.png") in bad.error
    assert "Replace it" in bad.to_text()
    gone = check_dataset("array", "", ReadOptions(path=str(tmp_path / "none.npz")))
    assert not gone.ok and gone.files[0].state == "MISSING" and "numpy.savez" in gone.to_text()
    unset = check_dataset("image_folder", None)  # the shipped dataset=image_folder before dataset.root=DIR
    assert not unset.ok and "dataset=image_folder needs dataset.root=DIR" in unset.to_text()
    unset = check_dataset("array", "", ReadOptions())
    assert not unset.ok and "dataset=array needs dataset.path=FILE.npz" in unset.to_text()


def test_cli_data_check_and_nb201_refusal(digits_npz: Path, tmp_path: Path) -> None:
    proc = nasflat("data", "check", "dataset=array", f"dataset.path={digits_npz}", check=True)
    assert "dataset array:digits.npz: OK" in proc.stdout and "images: 1,400 train / 397 test" in proc.stdout
    (tmp_path / "c").mkdir()
    bad = nasflat("data", "check", "dataset=image_folder", f"dataset.root={tmp_path}")
    assert bad.returncode == 1 and f"{tmp_path / 'c'} holds no images" in bad.stdout
    refused_args = ("search", "dataset=array", f"dataset.path={digits_npz}", "dataset.split_method=nb201")
    refused = nasflat(*refused_args, f"out_root={tmp_path / 'out'}")
    assert refused.returncode == 2 and "config error: dataset.split_method=nb201: NB201's split file" in refused.stderr
    assert [p.name for p in (tmp_path / "out").rglob("*")] == ["search"]  # no run directory left by a refusal
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")  # a folder with anything else in it is left alone
    assert nasflat(*refused_args, f"hydra.run.dir={tmp_path / 'kept'}").returncode == 2
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["cli.log", "notes.txt"]


# ---------------------------------------------------------------- end to end: the same images give the same run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("run_digits")
    nasflat("search", *DEMO_TINY, f"out_root={root}", check=True)
    return results_of(root)


# digits normalizes with constants rounded to 5 decimals; the exact statistics a custom dataset computes differ by
# ~2e-6, which float rounding can amplify over longer training, so the comparison runs pass the same constants
SAME_NORMALIZATION = (f"dataset.mean={list(DIGITS_MEAN)}", f"dataset.std={list(DIGITS_STD)}")


def _same_run(ours: dict, builtin: dict) -> None:
    assert ours["arch"] == builtin["arch"] and ours["search"]["score"] == builtin["search"]["score"]
    for key in ("test_acc", "test_loss", "train_loss"):
        assert ours["retrain"][key] == builtin["retrain"][key], key
    assert ours["data"]["sizes"] == builtin["data"]["sizes"]


def test_image_folder_run_equals_the_array_run_in_its_order(
    digits_folder: Path, interleaved_npz: Path, tmp_path: Path
) -> None:
    """The folder is read classes interleaved; an array holding the digits in that order gives the same run (and
    an array in the digits' own order gives the digits run, below)."""
    args = ("dataset=image_folder", f"dataset.root={digits_folder}", *SAME_NORMALIZATION)
    nasflat("search", *DEMO_TINY, *args, f"out_root={tmp_path / 'folder'}", check=True)
    r = results_of(tmp_path / "folder")
    args = ("dataset=array", f"dataset.path={interleaved_npz}", *SAME_NORMALIZATION)
    nasflat("search", *DEMO_TINY, *args, f"out_root={tmp_path / 'array'}", check=True)
    _same_run(r, results_of(tmp_path / "array"))
    assert r["dataset"] == "image_folder:digits_folder"
    assert (
        r["data"]["source"].startswith("image_folder:digits_folder: ")
        and "mean (0.30572, 0.30572, 0.30572)" in r["data"]["source"]
    )


def test_array_run_equals_the_digits_run(digits_run: dict, digits_npz: Path, tmp_path: Path) -> None:
    args = ("dataset=array", f"dataset.path={digits_npz}", *SAME_NORMALIZATION)
    nasflat("search", *DEMO_TINY, *args, f"out_root={tmp_path}", check=True)
    r = results_of(tmp_path)
    _same_run(r, digits_run)
    assert r["dataset"] == "array:digits.npz"
    assert (
        r["data"]["source"].startswith("array:digits.npz: ")
        and "std (0.31875, 0.31875, 0.31875)" in r["data"]["source"]
    )


# ---------------------------------------------------------------- order, labels and sizes shared by both readers


def test_folder_order_interleaves_classes_so_first_halves_hold_every_class(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for c, n, value in (("cat", 6, 10), ("dog", 3, 200)):
        for split in ("train", "test"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (8, 8), (value, i, 9 - i)).save(root / split / c / f"{c}_{i:03d}.png")
    ds = load_dataset("image_folder", root)
    # cat r at (r + .5) / 6, dog r at (r + .5) / 3: class-by-class would put all six cats first
    assert ds.train.labels.tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0]
    assert ds.train.images[:, 1, 0, 0].tolist() == [0, 0, 1, 2, 1, 3, 4, 2, 5]  # each class in file-name order
    first = DataSpec(name="image_folder", root=str(root), split_method="first").load(0)
    halves = (first.splits["search_train"].labels, first.splits["search_val"].labels)
    assert [torch.bincount(h, minlength=2).tolist() for h in halves] == [[3, 1], [3, 2]]


def test_hidden_entries_are_skipped_and_symlinked_folders_followed(tmp_path: Path) -> None:
    root = _tiny_folder(tmp_path / "nb", n=2)
    (root / "cat" / ".ipynb_checkpoints").mkdir()
    Image.new("RGB", (8, 8)).save(root / "cat" / ".ipynb_checkpoints" / "0-checkpoint.png")
    Image.new("RGB", (8, 8)).save(root / "dog" / ".hidden.png")
    (root / "dog" / ".DS_Store").write_bytes(b"\0\0junk")
    elsewhere = _tiny_folder(tmp_path / "elsewhere", ("bird",), n=2)
    (root / "bird").symlink_to(elsewhere / "bird", target_is_directory=True)
    (root / "cat" / "more").symlink_to(elsewhere / "bird", target_is_directory=True)
    ds = load_dataset("image_folder", root, options=ReadOptions(test_portion=0.25))
    assert ds.classes == ["bird", "cat", "dog"]
    assert torch.bincount(torch.cat([ds.train.labels, ds.test.labels])).tolist() == [2, 4, 2]
    (entry,) = dataset_identity({"name": "image_folder", "root": str(root)}).values()
    assert entry["files"] == 8  # the run identity digests the same images: a changed linked image is a new run


def test_a_class_without_training_images_is_refused(digits, tmp_path: Path) -> None:
    arrays = _array_arrays(digits)
    top = int(arrays["y_train"].max())
    above = _save_npz(tmp_path / "above.npz", **{**arrays, "y_test": np.full(20, top + 1)})
    msg = _array_refused(above)
    assert f"has label {top + 1} in 'y_test' but no label above {top} in 'y_train'" in msg
    assert "dataset.num_classes=K" in msg
    gap = np.where(arrays["y_train"] == 3, 4, arrays["y_train"])
    assert 3 in arrays["y_test"] and 3 not in gap
    msg = _array_refused(_save_npz(tmp_path / "gap.npz", **{**arrays, "y_train": gap}))
    assert f"{tmp_path / 'gap.npz'} has no training images of label 3 ('y_train' lacks it)" in msg
    assert "renumber the labels 0..K-1" in msg
    root = _tiny_folder(tmp_path / "few", ("cat", "dog", "emu"), n=3)
    for p in list((root / "emu").iterdir())[1:]:
        p.unlink()
    msg = _refused(root, ReadOptions(test_portion=0.7))  # 5 of 7 held out: emu's one image among them
    assert f"{root} has no training images of class emu" in msg and "Lower dataset.test_portion" in msg
    report = check_dataset("image_folder", root, ReadOptions(test_portion=0.7))
    assert not report.ok and report.error is not None and "no training images of class emu" in report.error
    report = check_dataset("array", "", ReadOptions(path=str(above)))
    assert not report.ok and report.error is not None and f"has label {top + 1} in 'y_test'" in report.error


def test_resolution_must_divide_one_square_size_for_both_readers(digits, digits_npz: Path, tmp_path: Path) -> None:
    root = _tiny_folder(tmp_path / "sq")  # 8x8 images
    msg = _refused(root, ReadOptions(resolution=3))
    assert f"{root} has 8x8 images: dataset.resolution=3 must divide the image size 8" in msg
    assert "Choose a dataset.resolution that divides 8 (4, 2)" in msg
    msg = _array_refused(digits_npz, resolution=5)
    assert "has 16x16 images: dataset.resolution=5 must divide the image size 16" in msg
    ds = load_dataset("image_folder", root, options=ReadOptions(resolution=4))
    assert ds.image_size == 8 and "resized" not in ds.source  # divides: box-downsampled later, as for CIFAR


def test_array_first_split_with_classes_apart_is_refused_or_warned(
    digits, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    arrays = _array_arrays(digits)
    by_class = {"y_train": np.repeat([0, 1], 20), "y_test": np.arange(20) % 2}  # first half all 0, second all 1
    apart = _save_npz(tmp_path / "apart.npz", **{**arrays, **by_class})
    with pytest.raises(DatasetFileError) as err:
        DataSpec(name="array", path=str(apart), split_method="first").load(0)
    msg = str(err.value)
    assert f"{apart} has y_train ordered so that dataset.split_method=first gives the search halves no class" in msg
    assert "Set dataset.split_method=random, or shuffle x_train and y_train" in msg
    assert DataSpec(name="array", path=str(apart), split_method="random").load(0).num_classes == 2
    y3 = np.concatenate([np.arange(20) % 2, np.arange(20) % 2 + 1])  # 0 only in the first half, 2 in the second
    some = _save_npz(tmp_path / "some.npz", **{**arrays, "y_train": y3, "y_test": np.arange(20) % 3})
    with caplog.at_level(logging.WARNING):
        DataSpec(name="array", path=str(some), split_method="first").load(0)
    (note,) = [r.getMessage() for r in caplog.records if "search halves" in r.getMessage()]
    assert note.startswith(f"{some}: with dataset.split_method=first, label(s) 0, 2 appear in only one")
