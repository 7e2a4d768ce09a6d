"""Your own data: a folder of class sub-folders (``image_folder``) or a .npz of uint8 arrays (``array``).

Both become the same in-memory uint8 ImageDataset as CIFAR, so the device-resident loader, the search splits and
``dataset.resolution`` work unchanged. Every way the input can be wrong is refused while loading, before any
training, with the file, the reason and what to do: a corrupt image met after an hour of search wastes the hour.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .datasets import ImageDataset, ImageSplit, ReadOptions, Triple, _triple
from .sources import CUSTOM_DATASETS, DatasetFileError, DatasetNotFoundError
from .splits import split_file_problems, stratified_test_indices

log = logging.getLogger(__name__)

# torchvision's ImageFolder extensions; other files (README, .DS_Store) are skipped, as ImageFolder does
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")
LAYOUT = (
    "dataset.root must hold one sub-folder per class (DIR/<class>/<image>), or train/ and test/ folders that "
    "each do (DIR/train/<class>/<image>, DIR/test/<class>/<image>)"
)
ARRAY_HOW = (
    "Save it with numpy.savez(FILE, x_train=X, y_train=Y, x_test=X2, y_test=Y2): X uint8 of shape (N, H, W, C) "
    "with H == W and C = 1 or 3, Y integer class indices 0..K-1 of shape (N,)"
)
NO_BENCHMARK = (
    "no NB201 table accuracies exist for this dataset (a results.json 'benchmark' entry holds the architecture's "
    "NB201 numbers on cifar10, cifar100 and imagenet16_120)"
)


@dataclass(frozen=True)
class _Parts:
    """What a reader found: the two splits, class names (folders) and how they were made (for ``source``)."""

    train: ImageSplit
    test: ImageSplit
    classes: list[str] | None
    where: Path
    how: str


def data_target(name: str, root: str | Path | None, path: str | Path | None) -> tuple[str, str | Path | None]:
    """The key a custom dataset is read from and its value: ``dataset.root`` (image_folder) or ``dataset.path``."""
    return ("dataset.root", root) if name == "image_folder" else ("dataset.path", path)


def dataset_label(name: str, root: str | Path | None, path: str | Path | None) -> str:
    """``image_folder:<folder name>`` / ``array:<file name>``: which of the user's datasets a run used."""
    _, given = data_target(name, root, path)
    if not given:
        return name
    target = Path(given).expanduser()
    return f"{name}:{target.resolve().name or target}"


def load_custom(
    name: str,
    root: str | Path | None,
    options: ReadOptions,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> ImageDataset:
    """Read a user's dataset; classes and normalization come from the data unless given (then checked)."""
    if name not in CUSTOM_DATASETS:
        raise ValueError(f"{name!r} is not one of the custom datasets {', '.join(CUSTOM_DATASETS)}")
    key, given = data_target(name, root, options.path)
    if not given:
        raise DatasetNotFoundError(_unset(name, key))
    target = Path(given).expanduser()
    parts = _read_folder(target, options) if name == "image_folder" else _read_array(target)
    num_classes = _num_classes(parts, options.num_classes)
    _every_class_trained(parts, num_classes, declared=options.num_classes is not None)
    size = parts.train.images.shape[-1]
    _resolution_divides(parts.where, size, options.resolution)
    mean_t, std_t, given = _normalization(parts, mean, std)
    label = dataset_label(name, root, options.path)
    return ImageDataset(
        name=label,
        num_classes=num_classes,
        train=parts.train,
        test=parts.test,
        mean=mean_t,
        std=std_t,
        crop_padding=max(1, size // 8),  # CIFAR's 4 at 32, ImageNet16's 2 at 16
        test_halves=None,
        classes=parts.classes,
        source=f"{label}: {parts.where.resolve()} ({parts.how}; {num_classes} classes, {size}x{size}; mean "
        f"{_fmt(mean_t)}, std {_fmt(std_t)} {given}; {NO_BENCHMARK})",
    )


def _resolution_divides(where: Path, size: int, resolution: int | None) -> None:
    """``dataset.resolution`` box-downsamples images of one square size, so it must divide that size."""
    if resolution is None or size % resolution == 0:
        return
    divisors = ", ".join(str(d) for d in range(size // 2, 0, -1) if size % d == 0 and d > 1)
    raise DatasetFileError(
        where,
        f"has {size}x{size} images: dataset.resolution={resolution} must divide the image size {size}",
        f"Choose a dataset.resolution that divides {size} ({divisors or 'none below it'}), or resize the images "
        "yourself.",
    )


def _unset(name: str, key: str) -> str:
    """What to pass when the folder or file is not given."""
    if name == "image_folder":
        return f"dataset=image_folder needs {key}=DIR: {LAYOUT}."
    return f"dataset=array needs {key}=FILE.npz. {ARRAY_HOW}."


def _normalization(
    parts: _Parts, mean: Sequence[float] | None, std: Sequence[float] | None
) -> tuple[Triple, Triple, str]:
    """The given mean/std, else the per-channel statistics of the training images (never the test images)."""
    if mean is not None and std is not None:
        return _triple(mean, (0.0, 0.0, 0.0), "mean"), _triple(std, (1.0, 1.0, 1.0), "std"), "given"
    computed_mean, computed_std = channel_statistics(parts.train.images)
    if std is None and min(computed_std) == 0.0:
        raise DatasetFileError(
            parts.where,
            "has training images with a constant channel (std 0), which cannot be normalized",
            "Set dataset.mean=[r,g,b] and dataset.std=[r,g,b] (values in (0, 1]) yourself.",
        )
    how = f"computed from the {len(parts.train):,} training images"
    if mean is not None or std is not None:
        how += " where not given"
    return _triple(mean, computed_mean, "mean"), _triple(std, computed_std, "std"), how


def _fmt(values: Triple) -> str:
    """Exact (shortest round-trip) values: passing them back as dataset.mean/std reproduces a run bit for bit."""
    return "(" + ", ".join(repr(float(v)) for v in values) + ")"


def channel_statistics(images: torch.Tensor, chunk: int = 4096) -> tuple[Triple, Triple]:
    """Per-channel mean and population std of uint8 (N, 3, H, W) images / 255, summed in float64 by chunks (the
    whole set as float64 would take 8x its memory)."""
    s1 = torch.zeros(3, dtype=torch.float64)
    s2 = torch.zeros(3, dtype=torch.float64)
    for part in images.split(chunk):
        x = part.to(torch.float64)
        s1 += x.sum(dim=(0, 2, 3))
        s2 += (x * x).sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s1 / n
    std = (s2 / n - mean * mean).clamp_min(0).sqrt()
    m, s = (mean / 255).tolist(), (std / 255).tolist()
    return (m[0], m[1], m[2]), (s[0], s[1], s[2])


def _num_classes(parts: _Parts, given: int | None) -> int:
    """The class count: folders, or the largest label + 1; a given ``dataset.num_classes`` must agree."""
    if parts.classes is not None:
        if given is not None and given != len(parts.classes):
            raise DatasetFileError(
                parts.where,
                f"has {len(parts.classes)} class folders but dataset.num_classes={given}",
                "Set dataset.num_classes=null (taken from the folders) or to the number of class folders.",
            )
        return len(parts.classes)
    top = {key: int(split.labels.max()) for key, split in (("y_train", parts.train), ("y_test", parts.test))}
    key = max(top, key=lambda k: top[k])
    if given is not None and top[key] >= given:
        raise DatasetFileError(
            parts.where,
            f"has label {top[key]} in {key}, but dataset.num_classes={given} (labels must be 0..{given - 1})",
            "Raise dataset.num_classes, fix the labels, or set dataset.num_classes=null (the largest label + 1).",
        )
    if given is None and top["y_test"] > top["y_train"]:
        raise DatasetFileError(
            parts.where,
            f"has label {top['y_test']} in 'y_test' but no label above {top['y_train']} in 'y_train': a class the "
            "search never trains on",
            f"Add training images of class {top['y_test']}, fix the labels, or set dataset.num_classes=K to "
            "declare the classes.",
        )
    return given if given is not None else top[key] + 1


def _every_class_trained(parts: _Parts, num_classes: int, *, declared: bool) -> None:
    """Refuse a class without training images: it could never be predicted, and accuracy would hide why.

    Labels found in neither split are allowed only when ``dataset.num_classes`` declares them."""
    train = np.bincount(parts.train.labels.numpy(), minlength=num_classes)
    seen = train + np.bincount(parts.test.labels.numpy(), minlength=num_classes)
    empty = [k for k in range(num_classes) if train[k] == 0 and (not declared or seen[k] > 0)]
    if not empty:
        return
    if parts.classes is not None:
        names = ", ".join(parts.classes[k] for k in empty[:5])
        raise DatasetFileError(
            parts.where,
            f"has no training images of class {names} (all of its images went to the test set)",
            "Lower dataset.test_portion, add images to that class folder, or provide train/ and test/ folders.",
        )
    raise DatasetFileError(
        parts.where,
        f"has no training images of label {', '.join(map(str, empty[:5]))} ('y_train' lacks it)",
        "Add training images of that class (or move some from x_test/y_test), renumber the labels 0..K-1 without "
        "gaps, or set dataset.num_classes=K to declare classes that have no images.",
    )


# ---------------------------------------------------------------- image folders


def _read_folder(root: Path, options: ReadOptions) -> _Parts:
    if not root.is_dir():
        state = "is a file, not a folder" if root.exists() else "does not exist"
        raise DatasetNotFoundError(f"image_folder: dataset.root={root} {state} (looked at {root.resolve()}); {LAYOUT}.")
    halves = _train_test_folders(root)
    if halves is not None:
        classes = _class_names(halves[0])
        test_classes = _class_names(halves[1])
        if test_classes != classes:
            diff = sorted(set(classes) ^ set(test_classes))
            raise DatasetFileError(
                halves[1],
                f"has other class folders than {halves[0]} (in only one of them: {', '.join(diff[:5])})",
                "Give train/ and test/ the same class sub-folders.",
            )
        (train_files, train_labels), (test_files, test_labels) = (_listing(h, classes) for h in halves)
        how = "train/ and test/ folders"
    else:
        classes = _class_names(root)
        files, labels = _listing(root, classes)
        is_test = _held_out(root, labels, options)
        train_files = [f for f, t in zip(files, is_test, strict=True) if not t]
        test_files = [f for f, t in zip(files, is_test, strict=True) if t]
        train_labels, test_labels = labels[~is_test], labels[is_test]
        how = f"dataset.test_portion={options.test_portion:g} of each class held out"
        how += f" with dataset.split_seed={options.split_seed}"
    size, resize = _common_size(train_files + test_files, options.resolution)
    if resize:
        how += f", every image resized to {size}x{size} on reading"
    return _Parts(
        train=ImageSplit(_read_images(train_files, size, resize), torch.from_numpy(train_labels)),
        test=ImageSplit(_read_images(test_files, size, resize), torch.from_numpy(test_labels)),
        classes=classes,
        where=root,
        how=how,
    )


def _train_test_folders(root: Path) -> tuple[Path, Path] | None:
    """DIR/train and DIR/test when the data comes split; None when DIR's sub-folders are the classes."""
    train, test = root / "train", root / "test"
    if train.is_dir() and test.is_dir():
        return train, test
    if train.is_dir() or test.is_dir():
        have, lack = ("train", "test") if train.is_dir() else ("test", "train")
        raise DatasetFileError(
            root,
            f"has a {have}/ folder but no {lack}/ folder",
            f"Add {root / lack} with the same class sub-folders, or move the class sub-folders of {have}/ directly "
            f"into {root} (dataset.test_portion of each class is then held out for testing).",
        )
    return None


def _class_names(folder: Path) -> list[str]:
    """Sorted sub-folder names, as torchvision's ImageFolder: label k is the k-th name."""
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DatasetFileError(folder, "has no class sub-folders", f"{LAYOUT}.")
    return names


def _image_files(class_dir: Path) -> list[Path]:
    """A class's images, in file-name order (relative path, lexicographic: zero-pad indices to keep a numbering).

    As torchvision's ImageFolder, symlinked folders are followed; hidden files and folders (``.DS_Store``,
    ``.ipynb_checkpoints``) are skipped, so a notebook's checkpoint copies never become training images."""
    files = sorted(_walk_images(class_dir), key=lambda f: f.relative_to(class_dir).as_posix())
    if not files:
        raise DatasetFileError(
            class_dir,
            f"holds no images (files ending {', '.join(IMAGE_EXTENSIONS)})",
            f"Add the class's images or remove the folder: every sub-folder of {class_dir.parent} is a class.",
        )
    return files


def _walk_images(folder: Path) -> list[Path]:
    """The image files under ``folder`` that the readers use (and the run identity digests)."""
    files = []
    for here, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(here) / n for n in names if Path(n).suffix.lower() in IMAGE_EXTENSIONS and n[0] != "."]
    return [f for f in files if f.is_file()]


def _listing(folder: Path, classes: Sequence[str]) -> tuple[list[Path], np.ndarray]:
    """Every image under ``folder``'s class sub-folders, the classes interleaved in proportion.

    Image r (in file-name order) of a class of n images is ranked (r + 0.5) / n, ties in class order, so any
    prefix holds every class in proportion (within one image). ImageFolder's class-by-class order would give the
    ``split_method=first`` halves (the DARTS family's default) disjoint classes.
    """
    entries = sorted(
        ((r + 0.5) / len(files), k, r, f)
        for k, files in enumerate(_image_files(folder / c) for c in classes)
        for r, f in enumerate(files)
    )
    return [e[3] for e in entries], np.array([e[1] for e in entries], dtype=np.int64)


def _held_out(root: Path, labels: np.ndarray, options: ReadOptions) -> np.ndarray:
    """Boolean mask of the test images: ``test_portion`` of each class, drawn with ``split_seed``."""
    n = len(labels)
    n_test = round(options.test_portion * n)
    if not 0 < n_test < n:
        raise DatasetFileError(
            root,
            f"holds {n} images, and dataset.test_portion={options.test_portion:g} leaves {n_test} for testing and "
            f"{n - n_test} for training",
            "Add images, choose a dataset.test_portion in (0, 1) that leaves both non-empty, or provide train/ and "
            "test/ folders.",
        )
    mask = np.zeros(n, dtype=bool)
    mask[stratified_test_indices(labels, n_test, options.split_seed)] = True
    return mask


def _unreadable(path: Path, error: Exception) -> DatasetFileError:
    return DatasetFileError(
        path,
        f"cannot be read as an image ({type(error).__name__}: {error})",
        "Replace it with a valid image or delete it.",
    )


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header alone (cheap: nothing is decoded)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except Exception as e:  # PIL's decoders raise OSError, SyntaxError, struct.error, ValueError...: all unreadable
        raise _unreadable(path, e) from e


def _common_size(files: list[Path], resolution: int | None) -> tuple[int, bool]:
    """The square size every image is read at, and whether it is resized on reading.

    Images of one square size are read as they are (``dataset.resolution`` then box-downsamples them, as any
    dataset, and must divide their size); otherwise ``dataset.resolution`` is required and every image is resized
    to it.
    """
    sizes = [_image_size(f) for f in files]
    first = sizes[0]
    odd = next((i for i, s in enumerate(sizes) if s != first or s[0] != s[1]), None)
    if odd is None:
        return first[0], False
    if resolution is not None:
        return resolution, True
    assert odd is not None
    (w, h), (w0, h0) = sizes[odd], first
    problem = f"is {w}x{h}, not square" if (w, h) == first else f"is {w}x{h} but {files[0]} is {w0}x{h0}"
    raise DatasetFileError(
        files[odd],
        problem,
        f"All images must share one square size: set dataset.resolution=S to resize every image to SxS on reading "
        f"(e.g. dataset.resolution={min(w0, h0)}), or resize the images yourself.",
    )


def _read_images(files: list[Path], size: int, resize: bool) -> torch.Tensor:
    """uint8 (N, 3, size, size): each image converted to RGB (grey replicated), resized when ``resize``."""
    out = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        out[i] = _read_rgb(f, size if resize else None)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _read_rgb(path: Path, size: int | None) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
    except Exception as e:  # as in _image_size: whatever the decoder raises, the file is unreadable
        raise _unreadable(path, e) from e
    if size is not None and rgb.size != (size, size):  # area average when shrinking, bilinear when enlarging
        shrink = min(rgb.size) >= size
        rgb = rgb.resize((size, size), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
    return np.asarray(rgb)


# ---------------------------------------------------------------- .npz arrays


def _read_array(path: Path) -> _Parts:
    if not path.is_file():
        state = "is a folder, not a file" if path.exists() else "does not exist"
        raise DatasetNotFoundError(f"array: dataset.path={path} {state} (looked at {path.resolve()}). {ARRAY_HOW}.")
    arrays = _npz_arrays(path)
    x_train, x_test = (_checked_images(path, k, arrays[k]) for k in ("x_train", "x_test"))
    if x_train.shape[1:3] != x_test.shape[1:3]:
        raise DatasetFileError(
            path,
            f"has x_train images of {x_train.shape[1]}x{x_train.shape[2]} but x_test images of "
            f"{x_test.shape[1]}x{x_test.shape[2]}",
            f"Both splits must have one image size. {ARRAY_HOW}.",
        )
    y_train = _checked_labels(path, "y_train", arrays["y_train"], len(x_train))
    y_test = _checked_labels(path, "y_test", arrays["y_test"], len(x_test))
    channels = "grey replicated to RGB" if 1 in (x_train.shape[3], x_test.shape[3]) else "RGB"
    return _Parts(
        train=ImageSplit(_to_rgb_tensor(x_train), torch.from_numpy(y_train)),
        test=ImageSplit(_to_rgb_tensor(x_test), torch.from_numpy(y_test)),
        classes=None,
        where=path,
        how=f"x_train/y_train and x_test/y_test arrays, {channels}",
    )


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The four arrays, read without pickle (an .npz may come from anywhere)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise _not_npz(path, e) from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DatasetFileError(path, "holds a single array (.npy), not an .npz archive", f"{ARRAY_HOW}.")
    with loaded as archive:
        if missing := [k for k in ARRAY_KEYS if k not in archive.files]:
            has = ", ".join(map(repr, archive.files)) or "none"
            keys = ", ".join(map(repr, missing))
            raise DatasetFileError(path, f"lacks the key(s) {keys} (has {has})", f"{ARRAY_HOW}.")
        try:
            return {k: archive[k] for k in ARRAY_KEYS}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # object arrays need pickle: refused
            raise _not_npz(path, e) from e


def _not_npz(path: Path, error: Exception) -> DatasetFileError:
    problem = f"is not a readable .npz archive of plain arrays ({type(error).__name__}: {error})"
    return DatasetFileError(path, problem, f"{ARRAY_HOW}.")


def _checked_images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    """``x`` if it is uint8 (N, S, S, C) with C in {1, 3} and N > 0, else the refusal that says how to convert it."""
    problem, fix = None, ARRAY_HOW
    if x.dtype != np.uint8:
        problem = f"has {key!r} of dtype {x.dtype}, expected uint8 pixel values 0..255"
        fix = f"Convert it, e.g. (x * 255).round().astype(np.uint8) for values in [0, 1]. {ARRAY_HOW}"
    elif x.ndim != 4:
        problem = f"has {key!r} of shape {x.shape}, expected 4-D (N, H, W, C)"
        fix = f"Grey images need a channel axis: x[..., None]. {ARRAY_HOW}"
    elif x.shape[3] not in (1, 3):
        problem = f"has {key!r} of shape {x.shape}: {x.shape[3]} channels last, expected C = 1 (grey) or 3 (RGB)"
        if x.shape[1] in (1, 3):
            fix = f"It looks channels-first: store x.transpose(0, 2, 3, 1). {ARRAY_HOW}"
    elif x.shape[1] != x.shape[2]:
        problem = f"has {key!r} of shape {x.shape}: {x.shape[1]}x{x.shape[2]} images are not square"
        fix = f"Crop or resize them to one square size. {ARRAY_HOW}"
    elif len(x) == 0:
        problem = f"has no images in {key!r}"
    if problem is not None:
        raise DatasetFileError(path, problem, f"{fix}.")
    return x


def _checked_labels(path: Path, key: str, y: np.ndarray, n: int) -> np.ndarray:
    """``y`` as int64 if it holds ``n`` non-negative integers, else the refusal naming the key."""
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DatasetFileError(
            path,
            f"has {key!r} of dtype {y.dtype} and shape {y.shape}, expected a 1-D array of integer class indices",
            f"Convert whole-number labels with y.astype(np.int64). {ARRAY_HOW}.",
        )
    if len(y) != n:
        problem = f"has {n:,} images in 'x_{key[2:]}' but {len(y):,} labels in {key!r}"
        raise DatasetFileError(path, problem, f"{ARRAY_HOW}.")
    if y.min() < 0:
        raise DatasetFileError(
            path, f"has negative labels in {key!r} (min {y.min()})", f"Labels are class indices 0..K-1. {ARRAY_HOW}."
        )
    return y.astype(np.int64)


def _to_rgb_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, S, S, C) -> (N, 3, S, S); C=1 is replicated to the three channels."""
    rgb = np.repeat(x, 3, axis=3) if x.shape[3] == 1 else x
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).contiguous()


# ---------------------------------------------------------------- run identity and config checks


def folder_identity(root: str | Path) -> dict[str, Any]:
    """One entry for a whole image folder: count, total size, newest mtime and a digest of every image's relative
    path, size and mtime (so renaming, adding, removing or rewriting any image changes it, yet stays one line)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return {"path": str(root.resolve()), "missing": True}
    rows = sorted(
        (p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns) for p in _walk_images(root) for st in (p.stat(),)
    )
    return {
        "path": str(root.resolve()),
        "files": len(rows),
        "size": sum(r[1] for r in rows),
        "mtime_ns": max((r[2] for r in rows), default=None),
        "digest": hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16],
    }


def config_problems(path: str, settings: Mapping[str, Any], *_: Any) -> list[tuple[str, Any, str, str]]:
    """Dataset keys that cannot work together, refused before any data is read or any run directory is made:
    (key, value, what, accepted)."""
    name, found = settings.get("name"), []
    if name in CUSTOM_DATASETS:
        found += _target_problems(path, str(name), settings)
    found += split_file_problems(path, str(name), settings.get("split_method"), settings.get("split_dir"))
    portion = settings.get("test_portion")
    if isinstance(portion, int | float) and not 0 < portion < 1:
        found.append((f"{path}.test_portion", portion, "out of range", "in (0, 1)"))
    classes = settings.get("num_classes")
    if isinstance(classes, int) and not isinstance(classes, bool) and classes < 2:
        found.append((f"{path}.num_classes", classes, "out of range", ">= 2, or null (from the data)"))
    return found


def _target_problems(path: str, name: str, settings: Mapping[str, Any]) -> list[tuple[str, Any, str, str]]:
    """The folder (image_folder) or .npz file (array) must be given and exist."""
    key, given = data_target(name, settings.get("root"), settings.get("path"))
    key = f"{path}.{key.split('.')[-1]}"
    folder = name == "image_folder"
    accepted = "an existing folder of class sub-folders (DIR/<class>/<image>)" if folder else "an existing .npz file"
    if not given:
        return [(key, given, f"required: pass {key}={'DIR' if folder else 'FILE.npz'}", accepted)]
    target = Path(str(given)).expanduser()
    if not (target.is_dir() if folder else target.is_file()):
        state = "does not exist" if not target.exists() else ("is a file" if folder else "is a folder")
        return [(key, given, f"{state} (looked at {target.resolve()})", accepted)]
    return []


def check_first_halves(path: str | Path, first: torch.Tensor, second: torch.Tensor) -> None:
    """``split_method=first`` on an array keeps the file's order: refuse halves that share no class (the search
    would tune the architecture on classes the weights never saw), warn when a class is missing from one half."""
    a, b = set(first.tolist()), set(second.tolist())
    if not a & b:
        raise DatasetFileError(
            Path(path),
            f"has y_train ordered so that dataset.split_method=first gives the search halves no class in common "
            f"(first part: labels {_labels(a)}; second part: labels {_labels(b)})",
            "Set dataset.split_method=random, or shuffle x_train and y_train in the file with one permutation.",
        )
    if missing := sorted(a ^ b):
        log.warning(
            "%s: with dataset.split_method=first, label(s) %s appear in only one of the search halves; set "
            "dataset.split_method=random or shuffle x_train and y_train in the file",
            path,
            _labels(set(missing)),
        )


def _labels(values: set[int]) -> str:
    ordered = sorted(values)
    return ", ".join(map(str, ordered[:10])) + (f" (+{len(ordered) - 10} more)" if len(ordered) > 10 else "")
