"""`nasflat data check dataset=...`: which files are expected where, which are missing, and how to get them; for a
loadable dataset its classes, counts per split, image size and normalization."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .datasets import ImageDataset, ReadOptions, damaged_files, load_dataset
from .sources import CUSTOM_DATASETS, DATASET_NAMES, SOURCES, DatasetFileError, DatasetNotFoundError
from .unpickle import UnsafePickleError


@dataclass(frozen=True)
class FileStatus:
    """One expected file: present or not, and what is wrong with it when it is present but unusable."""

    name: str
    path: str
    present: bool
    size: int | None
    problem: str | None = None

    @property
    def state(self) -> str:
        if not self.present:
            return "MISSING"
        if self.problem:
            return f"CORRUPT: {self.problem}"
        return "present" if self.size is None else f"present ({self.size:,} bytes)"


@dataclass(frozen=True)
class DataReport:
    """Result of `check_dataset`: expected files, whether the dataset loads, and what to do if it does not."""

    name: str
    directory: str
    files: list[FileStatus]
    loadable: bool
    num_train: int | None = None
    num_test: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    instructions: str | None = None
    num_classes: int | None = None
    image_size: int | None = None
    classes: list[str] | None = None  # class folder names (image_folder); None: labels 0..num_classes-1
    class_counts: dict[str, list[int]] | None = None  # split -> images per class
    source: str | None = None  # what a run records as results.json data.source

    @property
    def ok(self) -> bool:
        """Alias of `loadable` (the CLI's exit status)."""
        return self.loadable

    @property
    def missing(self) -> list[str]:
        return [f.name for f in self.files if not f.present]

    @property
    def corrupt(self) -> list[str]:
        return [f.name for f in self.files if f.problem]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "missing": self.missing, "corrupt": self.corrupt}

    def to_text(self) -> str:
        lines = [f"dataset {self.name}: {'OK' if self.loadable else 'NOT LOADABLE'}", f"  directory: {self.directory}"]
        lines += [f"  {f.name:<22} {f.state}" for f in self.files]
        if self.loadable:
            lines.append(f"  images: {self.num_train:,} train / {self.num_test:,} test")
            lines += self._content_lines()
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.instructions and not self.loadable:
            lines.append(f"  to fix: {self.instructions}")
        return "\n".join(lines)

    def _content_lines(self) -> list[str]:
        if self.num_classes is None or self.class_counts is None:
            return []
        names = self.classes or [str(k) for k in range(self.num_classes)]
        shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
        counts = ", ".join(f"{split} {min(c):,}..{max(c):,}" for split, c in self.class_counts.items())
        return [
            f"  image size: {self.image_size}x{self.image_size} RGB",
            f"  classes: {self.num_classes} ({shown})",
            f"  images per class: {counts}",
            f"  source: {self.source}",
        ]


def check_dataset(name: str, root: str | Path | None, options: ReadOptions | None = None) -> DataReport:
    """Inspect `root` for dataset `name` and try to load it (never downloads); damaged files are listed as such.
    ``options`` say how a user's dataset (image_folder, array) is read."""
    if name in CUSTOM_DATASETS:
        return _check_custom(name, root, options or ReadOptions())
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES + CUSTOM_DATASETS)}")
    if name == "digits":
        directory, files, instructions = "(embedded: scikit-learn load_digits)", [], "pip install scikit-learn"
    else:
        spec = SOURCES[name]
        d = spec.directory(root)
        directory, instructions = str(d.resolve()), spec.instructions(root)
        paths = [d / f for f in spec.files]
        files = [FileStatus(p.name, str(p.resolve()), p.is_file(), _size(p)) for p in paths]
    if any(not f.present for f in files):
        return DataReport(name, directory, files, False, error="missing files", instructions=instructions)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = load_dataset(name, root)
        except (DatasetFileError, UnsafePickleError) as e:
            return _damaged_report(name, Path(directory), files, e, [str(w.message) for w in caught])
        except Exception as e:  # report, do not crash: this is a diagnostic command
            msgs = [str(w.message) for w in caught]
            return DataReport(
                name,
                directory,
                files,
                False,
                error=f"{type(e).__name__}: {e}",
                warnings=msgs,
                instructions=instructions,
            )
    msgs = [str(w.message) for w in caught]
    return _loaded_report(ds, directory, files, msgs, instructions)


def _loaded_report(
    ds: ImageDataset, directory: str, files: list[FileStatus], msgs: list[str], instructions: str | None
) -> DataReport:
    counts = {
        split: ds_split.labels.bincount(minlength=ds.num_classes).tolist()
        for split, ds_split in (("train", ds.train), ("test", ds.test))
    }
    return DataReport(
        ds.name,
        directory,
        files,
        True,
        len(ds.train),
        len(ds.test),
        warnings=msgs,
        instructions=instructions,
        num_classes=ds.num_classes,
        image_size=ds.image_size,
        classes=ds.classes,
        class_counts=counts,
        source=ds.source,
    )


def _check_custom(name: str, root: str | Path | None, options: ReadOptions) -> DataReport:
    """A user's folder or .npz: the one path looked at, then the first problem found (with what to do) or the
    contents."""
    from .custom import ARRAY_HOW, LAYOUT, data_target, dataset_label

    _, given = data_target(name, root, options.path)
    target = Path(given or "").expanduser()
    where = str(target.resolve()) if given else "(not set)"
    files = [FileStatus(target.name, where, target.exists(), _size(target))] if given else []
    label, how = dataset_label(name, root, options.path), LAYOUT if name == "image_folder" else ARRAY_HOW
    try:
        ds = load_dataset(name, root, options=options)
    except DatasetNotFoundError as e:  # the message says what to provide
        return DataReport(label, where, files, False, error=str(e))
    except DatasetFileError as e:
        return DataReport(label, where, files, False, error=f"{e.path} {e.problem}", instructions=e.fix)
    return _loaded_report(ds, where, files, [], how)


def _damaged_report(
    name: str, directory: Path, files: list[FileStatus], error: Exception, msgs: list[str]
) -> DataReport:
    """Loading stops at the first bad file; check every file so the report lists all that need replacing."""
    spec = SOURCES[name]
    problems = damaged_files(spec, directory)
    files = [dataclasses.replace(f, problem=problems.get(f.name)) for f in files]
    bad = [f.name for f in files if f.problem] or [str(getattr(error, "path", error))]
    return DataReport(
        name,
        str(directory),
        files,
        False,
        error=f"damaged file(s): {', '.join(bad)}",
        warnings=msgs,
        instructions=spec.repair(directory / bad[0]),
    )


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None
