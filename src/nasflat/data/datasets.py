"""In-memory image datasets (uint8 tensors): CIFAR-10/100, ImageNet16-120, the embedded digits demo, your own data.

Everything is read into one uint8 tensor per split so that `DeviceLoader` can move it to the device once.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .sources import (
    CUSTOM_DATASETS,
    DATASET_NAMES,
    SOURCES,
    DatasetFileError,
    DatasetNotFoundError,
    SourceSpec,
    md5_mismatches,
)
from .unpickle import UnsafePickleError, load_pickle

Triple = tuple[float, float, float]

# NB201 / AutoDL normalization (pixel values / 255); DARTS-style runs pass their own mean/std.
NORMALIZATION: dict[str, tuple[Triple, Triple]] = {
    "cifar10": ((125.3 / 255, 123.0 / 255, 113.9 / 255), (63.0 / 255, 62.1 / 255, 66.7 / 255)),
    "cifar100": ((129.3 / 255, 124.1 / 255, 112.4 / 255), (68.2 / 255, 65.4 / 255, 70.4 / 255)),
    "imagenet16_120": ((122.68 / 255, 116.66 / 255, 104.01 / 255), (63.22 / 255, 61.26 / 255, 65.09 / 255)),
}

# NB201 split files holding the valid/test halves of the test set.
TEST_SPLIT_FILES = {"cifar100": "cifar100-test-split.txt", "imagenet16_120": "imagenet-16-120-test-split.txt"}


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """Images as uint8 (N, 3, H, W) on CPU and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            n = self.images.shape[0]
            raise ValueError(f"labels must be int64 ({n},), got {self.labels.dtype} {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def downsampled(self, size: int) -> ImageSplit:
        """Box-filtered to ``size``x``size`` (the mean of each k x k block, rounded): the way ImageNet16 was made
        from ImageNet, so a downsampled CIFAR keeps its statistics. ``size`` must divide the image size."""
        h = self.images.shape[-1]
        if size == h:
            return self
        if size < 1 or h % size:
            raise ValueError(f"dataset.resolution={size} must divide the image size {h} (e.g. {h // 2})")
        k = h // size
        pooled = torch.nn.functional.avg_pool2d(self.images.float(), k)
        return ImageSplit(pooled.round_().to(torch.uint8), self.labels)

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ImageSplit:
        idx = indices if torch.is_tensor(indices) else torch.from_numpy(np.asarray(indices, dtype=np.int64))
        idx = idx.long().cpu()
        return ImageSplit(self.images[idx], self.labels[idx])


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A dataset in memory plus the protocol facts a run must record (normalization, padding, where it came from)."""

    name: str
    num_classes: int
    train: ImageSplit
    test: ImageSplit
    mean: Triple
    std: Triple
    crop_padding: int
    test_halves: dict[str, ImageSplit] | None
    source: str
    classes: list[str] | None = None  # class names where the data has them (image_folder); label k is classes[k]

    @property
    def image_size(self) -> int:
        return self.train.images.shape[-1]


def read_split_file(path: str | Path) -> dict[str, np.ndarray]:
    """Parse an NB201 split file ({"key": ["int", ["1", ...]], ...}) into int64 index arrays."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        return {k: np.asarray([int(i) for i in v[1]], dtype=np.int64) for k, v in raw.items()}
    except (ValueError, TypeError, IndexError, AttributeError) as e:
        raise ValueError(f"{path} is not an NB201 split file (expected {{'name': ['int', ['0', ...]]}}): {e}") from e


def read_batch(spec: SourceSpec, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One dataset pickle as uint8 (N, 3, S, S) images and int64 (N,) labels.

    Every way the file can be wrong is checked here, so the error names this file and what to do, instead of a
    bare EOFError / KeyError now or an out-of-range label inside training later.
    """
    try:
        return _checked_batch(spec, path, load_pickle(path))
    except DatasetFileError as e:
        raise e.with_fix(spec.repair(path)) from e


def _checked_batch(spec: SourceSpec, path: Path, entry: Any) -> tuple[np.ndarray, np.ndarray]:
    key, size = spec.label_key, spec.image_size
    if not isinstance(entry, dict):
        raise DatasetFileError(path, f"holds a {type(entry).__name__}, not the dict of a {spec.name} batch")
    if missing := [k for k in ("data", key) if k not in entry]:
        has = ", ".join(map(repr, entry)) or "none"
        raise DatasetFileError(
            path, f"lacks the key(s) {', '.join(map(repr, missing))} of a {spec.name} batch (has {has})"
        )
    data, width = entry["data"], 3 * size * size
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
        got = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else f"a {type(data).__name__}"
        raise DatasetFileError(
            path, f"has 'data' {got}, expected uint8 of shape (N, {width}) ({size}x{size} RGB images of {spec.name})"
        )
    if len(data) == 0:
        raise DatasetFileError(path, "holds no images")
    try:
        labels = np.asarray(entry[key])
    except (TypeError, ValueError):  # ragged or mixed content
        labels = np.asarray([None], dtype=object)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetFileError(path, f"has {key!r} that is not a list of integers ({labels.dtype}, {labels.shape})")
    if len(labels) != len(data):
        raise DatasetFileError(path, f"has {len(data):,} images but {len(labels):,} labels")
    lo, hi = spec.label_range
    if labels.min() < lo or labels.max() > hi:
        got = f"{labels.min()}..{labels.max()}"
        raise DatasetFileError(path, f"has labels {got}, but {spec.name} labels are {lo}..{hi}")
    return data.reshape(-1, 3, size, size), labels.astype(np.int64)


def _split_from_pickles(spec: SourceSpec, directory: Path, files: Sequence[str]) -> ImageSplit:
    parts = [read_batch(spec, directory / f) for f in files]
    return ImageSplit(
        torch.from_numpy(np.concatenate([images for images, _ in parts])),
        torch.from_numpy(np.concatenate([labels for _, labels in parts])),
    )


def damaged_files(spec: SourceSpec, directory: Path) -> dict[str, str]:
    """Each present file of `spec` in `directory` that cannot be used -> what is wrong with it (for `data check`)."""
    bad = {}
    for name in spec.files:
        if (directory / name).is_file():
            try:
                read_batch(spec, directory / name)
            except (DatasetFileError, UnsafePickleError) as e:
                bad[name] = getattr(e, "problem", str(e))
    return bad


def _check_md5(spec: SourceSpec, directory: Path) -> str:
    bad = md5_mismatches(spec, directory)
    if not bad:
        return "md5 official"
    warnings.warn(
        f"{spec.name}: md5 of {', '.join(bad)} in {directory} differs from the official files (a re-encoded or "
        "modified copy, e.g. the JPEG-derived CIFAR-10 test pack); loading anyway, but accuracies may not match "
        "published numbers.",
        stacklevel=4,
    )
    return f"md5 differs from official: {', '.join(bad)}"


def _download(spec: SourceSpec, root: Path) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        root.mkdir(parents=True, exist_ok=True)
        download_and_extract_archive(spec.url, str(root), md5=spec.archive_md5)
    except Exception as e:  # offline, proxy, disk full: all end in the same manual instructions
        raise spec.not_found(root, f" Download of {spec.url} failed ({type(e).__name__}: {e}).") from e


def _test_halves(name: str, test: ImageSplit, split_dir: str | Path | None) -> dict[str, ImageSplit] | None:
    if split_dir is None or name not in TEST_SPLIT_FILES:
        return None
    path = Path(split_dir) / TEST_SPLIT_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(f"NB201 split file {path} is missing (it ships with AutoDL-Projects' configs)")
    idx = read_split_file(path)
    n = max(int(v.max()) for v in idx.values()) + 1
    if n > len(test):
        raise ValueError(f"{path} indexes {n} test images but the {name} test set has {len(test)}")
    return {"valid": test.subset(idx["xvalid"]), "test": test.subset(idx["xtest"])}


def _load_cifar(name: str, root: Path, download: bool) -> tuple[ImageSplit, ImageSplit, str]:
    spec = SOURCES[name]
    if spec.missing(root):
        if not download:
            raise spec.not_found(root)
        _download(spec, root)
        if spec.missing(root):
            raise spec.not_found(root, " The downloaded archive did not contain them.")
    d = spec.directory(root)
    md5 = _check_md5(spec, d)
    if name == "cifar10":
        train = _split_from_pickles(spec, d, [f"data_batch_{i}" for i in range(1, 6)])
        test = _split_from_pickles(spec, d, ["test_batch"])
    else:
        train = _split_from_pickles(spec, d, ["train"])
        test = _split_from_pickles(spec, d, ["test"])
    return train, test, f"{d.resolve()} (python pickles; {md5})"


def _keep_first_classes(split: ImageSplit, num_classes: int) -> ImageSplit:
    """ImageNet16-120: keep 1-based labels 1..num_classes and shift them to 0-based (AutoDL protocol)."""
    keep = (split.labels >= 1) & (split.labels <= num_classes)
    return ImageSplit(split.images[keep], split.labels[keep] - 1)


def _load_imagenet16(root: Path, download: bool) -> tuple[ImageSplit, ImageSplit, str]:
    spec = SOURCES["imagenet16_120"]
    if spec.missing(root):
        extra = " (dataset.download=true cannot help: there is no public automatic download.)" if download else ""
        raise spec.not_found(root, extra)
    d = spec.directory(root)
    md5 = _check_md5(spec, d)
    # filter per batch: the 10 raw train batches hold 1.28M images (~1 GB), the kept 120 classes ~116 MB
    parts = [_keep_first_classes(_split_from_pickles(spec, d, [f"train_data_batch_{i}"]), 120) for i in range(1, 11)]
    train = ImageSplit(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))
    test = _keep_first_classes(_split_from_pickles(spec, d, ["val_data"]), 120)
    return train, test, f"{d.resolve()} (ImageNet16 pickles, labels 1..120 kept; {md5})"


@dataclass(frozen=True)
class ReadOptions:
    """How a user's own dataset (image_folder, array) is read; the built-in datasets use only ``num_classes``."""

    path: str | None = None  # dataset=array: the .npz file
    num_classes: int | None = None  # None: taken from the data; else checked against it
    test_portion: float = 0.2  # image_folder without train/ and test/: this share of each class is the test set
    split_seed: int = 0  # ... drawn with this seed
    resolution: int | None = None  # box-downsample to this (must divide one square size); mixed-size folders: resize


def load_dataset(
    name: str,
    root: str | Path | None,
    *,
    download: bool = False,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    split_dir: str | Path | None = None,
    options: ReadOptions | None = None,
) -> ImageDataset:
    """Load `name` from `root` into memory; mean/std default to the NB201 constants (see NORMALIZATION), or for
    a user's dataset (image_folder, array) to the statistics of its training images."""
    options = options or ReadOptions()
    if name in CUSTOM_DATASETS:
        from .custom import load_custom

        return load_custom(name, root, options, mean=mean, std=std)
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES + CUSTOM_DATASETS)}")
    ds = _load_builtin(name, Path(root or ".").expanduser(), download, mean, std, split_dir)
    if options.num_classes is not None and options.num_classes != ds.num_classes:
        raise ValueError(
            f"dataset.num_classes={options.num_classes}, but {name} has {ds.num_classes} classes; leave it null"
        )
    return ds


def _load_builtin(
    name: str,
    root: Path,
    download: bool,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    split_dir: str | Path | None,
) -> ImageDataset:
    if name == "digits":
        from .digits import load_digits_dataset

        return load_digits_dataset(mean=mean, std=std)
    if name == "imagenet16_120":
        train, test, source = _load_imagenet16(root, download)
        num_classes, padding = 120, 2
    else:
        train, test, source = _load_cifar(name, root, download)
        num_classes, padding = (10 if name == "cifar10" else 100), 4
    default_mean, default_std = NORMALIZATION[name]
    return ImageDataset(
        name=name,
        num_classes=num_classes,
        train=train,
        test=test,
        mean=_triple(mean, default_mean, "mean"),
        std=_triple(std, default_std, "std"),
        crop_padding=padding,
        test_halves=_test_halves(name, test, split_dir),
        source=source,
    )


def _triple(value: Sequence[float] | None, default: Triple, what: str) -> Triple:
    if value is None:
        return default
    if len(value) != 3:
        raise ValueError(f"{what} needs one value per RGB channel, got {list(value)}")
    return (float(value[0]), float(value[1]), float(value[2]))


__all__ = [
    "DatasetFileError",
    "DatasetNotFoundError",
    "ImageDataset",
    "ImageSplit",
    "ReadOptions",
    "damaged_files",
    "load_dataset",
    "read_batch",
    "read_split_file",
]
