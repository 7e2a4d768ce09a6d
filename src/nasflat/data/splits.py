"""Search-time train/val halves of a TRAINING set (the test set is never touched during search).

Methods: 'random' (seeded permutation), 'first' (quark0/DARTS and A²M: first `portion` train, the rest val) and
'nb201' (the official cifar-split.txt, i.e. the benchmark's cifar10-valid protocol; CIFAR-10 only).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import TEST_SPLIT_FILES, ImageSplit, read_split_file

SPLIT_METHODS = ("random", "first", "nb201")
NB201_TRAIN_SPLIT_FILES = {"cifar10": "cifar-split.txt"}
SPLIT_CHOICES = "random | first | null (the method's official split: first for the DARTS family, else random)"


Problem = tuple[str, Any, str, str]  # (key, value, what is wrong, what is accepted), as the config check reports


def split_file_problems(path: str, name: str, method: Any, split_dir: Any) -> list[Problem]:
    """The NB201 split files a dataset config will read, checked before any work (the loaders raise the same
    errors later): ``split_method=nb201`` needs CIFAR-10 and ``cifar-split.txt``; with ``split_dir`` set,
    CIFAR-100 and ImageNet16-120 read their valid/test halves from it."""
    if method == "nb201" and name not in NB201_TRAIN_SPLIT_FILES:
        what = f"NB201's split file indexes CIFAR-10's training set, not dataset={name}"
        return [(f"{path}.split_method", "nb201", what, SPLIT_CHOICES)]
    if method == "nb201":
        return _missing_split_file(f"{path}.split_dir", split_dir, NB201_TRAIN_SPLIT_FILES[name], "", required=True)
    if name in TEST_SPLIT_FILES:
        why = f" (dataset={name} reads its NB201 valid/test halves from it)"
        return _missing_split_file(f"{path}.split_dir", split_dir, TEST_SPLIT_FILES[name], why, required=False)
    return []


def _missing_split_file(key: str, split_dir: Any, file: str, why: str, required: bool) -> list[Problem]:
    """``file`` in the folder ``split_dir``: a problem when it is missing, or when no folder is given but one is
    ``required``."""
    accepted = f"a folder with {file}" + ("" if required else ", or null")
    if split_dir in (None, ""):
        return [(key, split_dir, f"needs {key}, the folder holding NB201's {file}", accepted)] if required else []
    target = Path(str(split_dir)).expanduser() / file
    return [] if target.is_file() else [(key, split_dir, f"{target} does not exist{why}", accepted)]


@dataclass(frozen=True, eq=False)
class SearchSplit:
    """The two halves plus how they were made; unpacks as `train, val = search_split(...)`."""

    train: ImageSplit
    val: ImageSplit
    method: str
    train_indices: np.ndarray = field(repr=False)
    val_indices: np.ndarray = field(repr=False)
    seed: int | None = None
    source: str | None = None

    def __iter__(self) -> Iterator[ImageSplit]:
        return iter((self.train, self.val))

    def describe(self) -> dict[str, Any]:
        """What a run records about its split."""
        return {
            "method": self.method,
            "seed": self.seed,
            "num_train": len(self.train),
            "num_val": len(self.val),
            "source": self.source,
        }


def stratified_test_indices(labels: np.ndarray, n_test: int, seed: int) -> np.ndarray:
    """Shuffle within each class, then spread every class evenly over one ordering; its head is the test set.

    Ranking sample r of a class of size n at (r + 0.5) / n interleaves the classes, so any prefix holds each
    class in proportion (within one sample), and the result depends only on the seed.
    """
    rng = np.random.default_rng(seed)
    key = np.empty(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        key[rng.permutation(members)] = (np.arange(len(members)) + 0.5) / len(members)
    return np.sort(np.argsort(key, kind="stable")[:n_test])


def _portion_cut(n: int, portion: float) -> int:
    if not 0.0 < portion < 1.0:
        raise ValueError(f"portion must be in (0, 1), got {portion}")
    return int(np.floor(portion * n))  # as DARTS: split = floor(portion * num_train)


def search_split(
    train: ImageSplit,
    *,
    seed: int,
    portion: float = 0.5,
    method: str = "random",
    split_dir: str | Path | None = None,
    dataset_name: str | None = None,
) -> SearchSplit:
    """Split `train` into search-train / search-val halves (deterministic for a given seed / split file)."""
    n = len(train)
    source = None
    if method == "random":
        perm = np.random.default_rng(seed).permutation(n)
        cut = _portion_cut(n, portion)
        tr, va = np.sort(perm[:cut]), np.sort(perm[cut:])
    elif method == "first":
        cut = _portion_cut(n, portion)
        tr, va = np.arange(cut), np.arange(cut, n)
    elif method == "nb201":
        if dataset_name not in NB201_TRAIN_SPLIT_FILES:
            raise ValueError(
                f"split method 'nb201' is only defined for {', '.join(NB201_TRAIN_SPLIT_FILES)} (the benchmark's "
                f"cifar10-valid protocol), not {dataset_name!r}; use method='random' or 'first' (for CIFAR-100 and "
                "ImageNet16-120 the benchmark's valid/test halves are of the test set: ImageDataset.test_halves)"
            )
        if split_dir is None:
            raise ValueError("split method 'nb201' needs split_dir: the folder holding NB201's cifar-split.txt")
        path = Path(split_dir) / NB201_TRAIN_SPLIT_FILES[dataset_name]
        idx = read_split_file(path)
        tr, va = idx["train"], idx["valid"]
        if max(tr.max(), va.max()) >= n:
            raise ValueError(f"{path} indexes {max(tr.max(), va.max()) + 1} images but the training set has {n}")
        source = str(path)
    else:
        raise ValueError(f"unknown split method {method!r}; valid: {', '.join(SPLIT_METHODS)}")
    return SearchSplit(
        train=train.subset(tr),
        val=train.subset(va),
        method=method,
        train_indices=tr,
        val_indices=va,
        seed=seed if method == "random" else None,
        source=source,
    )
