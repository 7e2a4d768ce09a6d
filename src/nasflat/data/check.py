"""`nasflat data check dataset=...`: which files are expected where, which are missing, and how to get them."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .datasets import damaged_files, load_dataset
from .sources import DATASET_NAMES, SOURCES, DatasetFileError
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
        return f"CORRUPT: {self.problem}" if self.problem else f"present ({self.size:,} bytes)"


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
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.instructions and not self.loadable:
            lines.append(f"  to fix: {self.instructions}")
        return "\n".join(lines)


def check_dataset(name: str, root: str | Path) -> DataReport:
    """Inspect `root` for dataset `name` and try to load it (never downloads); damaged files are listed as such."""
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")
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
    n_train, n_test = len(ds.train), len(ds.test)
    return DataReport(name, directory, files, True, n_train, n_test, warnings=msgs, instructions=instructions)


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
