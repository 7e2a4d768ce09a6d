"""The NAS-Bench-201 table: every query names its dataset and split, nothing is aliased.

Convention (the benchmark's): CIFAR-10 "valid" is the ``cifar10-valid`` run (trained on 25k, evaluated on the
other 25k), CIFAR-10 "test" the ``cifar10`` run (trained on 50k, evaluated on the 10k test set); CIFAR-100 and
ImageNet16-120 valid/test are the x-valid/x-test halves of their test sets. Accuracies are percent, 200-epoch
training (hp=200), mean over the benchmark's seeds. The CSV is read with the csv module into numpy columns
(~0.2 s, a few MB), never the multi-GB official pickle.
"""

from __future__ import annotations

import csv
import importlib
import io
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasflat.spaces.base import ArchFormatError, SearchSpace
from nasflat.spaces.nb201 import DATASETS, OPS, NB201Arch, NB201Space, unique_str

SPLITS: tuple[str, ...] = ("valid", "test")
_PREFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16_120": "imagenet16"}
ACC_COLUMNS: dict[tuple[str, str], str] = {(d, s): f"{_PREFIX[d]}_{s}_acc" for d in DATASETS for s in SPLITS}
PARAM_COLUMNS: dict[str, str] = {d: f"params_{_PREFIX[d]}" for d in DATASETS}
COLUMNS: tuple[str, ...] = (
    "arch_index",
    "arch_str",
    "ops",
    "op_codes",
    "unique_str",
    *ACC_COLUMNS.values(),
    *PARAM_COLUMNS.values(),
    "naswot_cifar10",
)
# NATS-Bench (tss) dataset / metric for each of our (dataset, split) pairs, hp=200.
NATS_SOURCES: dict[tuple[str, str], tuple[str, str]] = {
    ("cifar10", "valid"): ("cifar10-valid", "valid-accuracy"),  # x-valid of the 25k/25k run
    ("cifar10", "test"): ("cifar10", "test-accuracy"),  # ori-test of the 50k run
    ("cifar100", "valid"): ("cifar100", "valid-accuracy"),  # x-valid
    ("cifar100", "test"): ("cifar100", "test-accuracy"),  # x-test
    ("imagenet16_120", "valid"): ("ImageNet16-120", "valid-accuracy"),
    ("imagenet16_120", "test"): ("ImageNet16-120", "test-accuracy"),
}
NATS_PARAM_DATASET = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16_120": "ImageNet16-120"}
NUM_ARCHS = len(OPS) ** 6  # 15,625: a complete table has every cell exactly once
HOW_TO_GET = (
    "rebuild it from the official NATS-Bench topology files with `nasflat bench import "
    "source=<NATS-tss-v1_0-3ffb9-simple dir> out=<file.csv>` (needs `pip install nats_bench`), or set "
    "benchmark.nb201_table (or NASFLAT_NB201_TABLE) to a complete nb201_all_archs_200ep.csv"
)


class TableFormatError(ValueError):
    """The benchmark file is not in the expected schema; the message names the file and how to rebuild it."""


class MissingPackageError(ImportError):
    """An optional package a command needs is not installed; the message says what to install."""


def check_dataset_split(dataset: str, split: str | None = None) -> None:
    """Only the canonical names are accepted ('ImageNet16-120' or 'val' raise rather than silently alias)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(DATASETS)}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


class NB201Table:
    """All NB201 architectures as numpy columns aligned with ``archs`` (row order of the file)."""

    space = NB201Space  # the space whose architectures the table holds (see ``covers``)

    def __init__(
        self,
        archs: list[NB201Arch],
        arch_index: np.ndarray,
        acc: dict[tuple[str, str], np.ndarray],
        params: dict[str, np.ndarray],
        naswot: np.ndarray,
        path: Path | None = None,
    ) -> None:
        self.archs = archs
        self.arch_index = arch_index  # (R,) int64
        self._acc = acc  # (dataset, split) -> (R,) float64, percent
        self._params = params  # dataset -> (R,) int64
        self._naswot = naswot  # (R,) float64, NaN where absent
        self.path = path
        self._row: dict[NB201Arch, int] = {}
        for r, a in enumerate(archs):
            if self._row.setdefault(a, r) != r:
                raise TableFormatError(f"{path}: architecture {a} appears twice (rows {self._row[a]} and {r})")
        for col in (arch_index, naswot, *acc.values(), *params.values()):
            col.setflags(write=False)

    # ---- loading ---------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, expected_rows: int | None = NUM_ARCHS) -> NB201Table:
        """Read the CSV written by ``write_table``; anything else is refused here, naming the file and the problem.

        ``expected_rows``: a search must find every architecture, so a partial table is refused on load rather
        than failing with a KeyError mid-search; ``None`` admits subsets (test fixtures).
        """
        path = Path(path)
        header, rows = _read_csv(path)
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise TableFormatError(f"{path} lacks the column(s) {', '.join(missing)} (has {header}); {HOW_TO_GET}")
        if expected_rows is not None and len(rows) != expected_rows:
            raise TableFormatError(
                f"{path} has {len(rows):,} architectures, NB201 has {expected_rows:,} (a truncated or partial "
                f"table); {HOW_TO_GET}"
            )
        pos = {c: header.index(c) for c in COLUMNS}
        archs = _archs(path, rows, pos)
        arch_index = _column(path, rows, pos, "arch_index", np.int64)
        _no_repeats(path, "arch_index", arch_index.tolist())
        return cls(
            archs,
            arch_index,
            {k: _accuracy(path, rows, pos, c) for k, c in ACC_COLUMNS.items()},
            {d: _column(path, rows, pos, c, np.int64) for d, c in PARAM_COLUMNS.items()},
            _column(path, rows, pos, "naswot_cifar10", np.float64, empty="nan"),
            path,
        )

    # ---- queries ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.archs)

    def __contains__(self, arch: Any) -> bool:
        return NB201Space.validate(arch) in self._row

    def row(self, arch: Any) -> int:
        """The row position of ``arch`` (an NB201Arch, arch string, or 6 op indices)."""
        a = NB201Space.validate(arch)
        try:
            return self._row[a]
        except KeyError:
            raise KeyError(f"{a} is not in the NB201 table {self.path} ({len(self)} rows)") from None

    def index(self, arch: Any) -> int:
        """The benchmark's ``arch_index``."""
        return int(self.arch_index[self.row(arch)])

    def query(self, arch: Any, dataset: str, split: str) -> float:
        """Accuracy (percent) of ``arch`` on ``dataset``'s ``split`` ('valid' | 'test')."""
        check_dataset_split(dataset, split)
        return float(self._acc[(dataset, split)][self.row(arch)])

    @classmethod
    def covers(cls, space: SearchSpace) -> bool:
        """Whether ``space``'s architectures are this table's (a table configured for another space is unused)."""
        return isinstance(space, cls.space)

    def entry(self, arch: Any) -> dict[str, dict[str, float]]:
        """``{dataset: {"valid": acc, "test": acc}}`` (percent) on every benchmark dataset: what results.json and
        ``nasflat info`` record for an architecture."""
        r = self.row(arch)
        return {d: {s: float(self._acc[(d, s)][r]) for s in SPLITS} for d in DATASETS}

    def params(self, arch: Any, dataset: str) -> int:
        check_dataset_split(dataset)
        return int(self._params[dataset][self.row(arch)])

    def column(self, dataset: str, split: str) -> np.ndarray:
        """A read-only (R,) accuracy array aligned with ``archs``."""
        check_dataset_split(dataset, split)
        return self._acc[(dataset, split)]

    def naswot(self, arch: Any) -> float:
        value = float(self._naswot[self.row(arch)])
        if math.isnan(value):
            raise ValueError(f"{self.path} has no NASWOT score for {NB201Space.validate(arch)}; compute it instead")
        return value

    def best(self, dataset: str, split: str) -> tuple[NB201Arch, float]:
        """The top architecture by one (dataset, split) column (ties -> first row)."""
        col = self.column(dataset, split)
        r = int(np.argmax(col))
        return self.archs[r], float(col[r])

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as dicts keyed by the file's columns (``write_table`` input)."""
        for r, a in enumerate(self.archs):
            row: dict[str, Any] = {"arch_index": int(self.arch_index[r]), "arch_str": str(a)}
            row.update({c: float(self._acc[k][r]) for k, c in ACC_COLUMNS.items()})
            row.update({c: int(self._params[d][r]) for d, c in PARAM_COLUMNS.items()})
            row["naswot_cifar10"] = float(self._naswot[r])
            yield row


# ---- reading ----------------------------------------------------------------------------------------------------
def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a text CSV whose rows all have the header's width (a cut-off last line is caught here)."""
    if path.is_dir():
        raise TableFormatError(f"{path} is a directory, not the table's CSV file; {HOW_TO_GET}")
    if not path.is_file():
        raise FileNotFoundError(f"NB201 table not found at {path}; {HOW_TO_GET}")
    with path.open("rb") as f:
        start = f.read(1 << 16)
    head = start[:8]
    try:
        if b"\x00" in start:  # binary (a multi-GB pickle is refused without reading it); csv would accept NULs
            raise ValueError("it contains NUL bytes")
        text = path.read_text(encoding="utf-8")
        if "\x00" in text:
            raise ValueError("it contains NUL bytes")
        header, *rows = list(csv.reader(io.StringIO(text, newline=""))) or [None]
    except (ValueError, csv.Error) as e:  # UnicodeDecodeError is a ValueError
        raise TableFormatError(
            f"{path} is not a text CSV file (it starts with {head!r}; {e}); the NB201 table is the CSV written by "
            f"`nasflat bench import`, not the official .pth/.pickle file; {HOW_TO_GET}"
        ) from None
    while rows and not rows[-1]:  # blank lines at the end of the file (blank lines inside are an error below)
        rows.pop()
    if header is None:
        raise TableFormatError(f"{path} is empty; {HOW_TO_GET}")
    if not rows:
        raise TableFormatError(f"{path} has a header but no rows; {HOW_TO_GET}")
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise TableFormatError(
                f"{path}, line {line}: {len(row)} fields where the header has {len(header)} (a cut-off or edited "
                f"line); {HOW_TO_GET}"
            )
    return header, rows


def _archs(path: Path, rows: list[list[str]], pos: dict[str, int]) -> list[NB201Arch]:
    archs = []
    for line, row in enumerate(rows, start=2):
        try:
            arch = NB201Arch.from_str(row[pos["arch_str"]])
        except ArchFormatError as e:
            raise TableFormatError(f"{path}, line {line}: malformed arch_str: {e}; {HOW_TO_GET}") from e
        if row[pos["op_codes"]] != "".join(map(str, arch)):
            raise TableFormatError(
                f"{path}, line {line}: op_codes {row[pos['op_codes']]!r} disagrees with arch_str {arch}; {HOW_TO_GET}"
            )
        archs.append(arch)
    _no_repeats(path, "arch_str", archs)
    return archs


def _no_repeats(path: Path, name: str, values: list[Any]) -> None:
    first: dict[Any, int] = {}
    for r, v in enumerate(values):
        if (seen := first.setdefault(v, r)) != r:
            raise TableFormatError(
                f"{path}: {name} {v} appears twice (lines {seen + 2} and {r + 2}); each architecture must appear "
                f"once; {HOW_TO_GET}"
            )


def _column(
    path: Path, rows: list[list[str]], pos: dict[str, int], name: str, dtype: type, empty: str | None = None
) -> np.ndarray:
    j = pos[name]
    cells = [empty if (empty is not None and r[j] == "") else r[j] for r in rows]
    try:
        return np.array(cells, dtype=dtype)
    except ValueError:
        for line, cell in enumerate(cells, start=2):
            try:
                np.array(cell, dtype=dtype)
            except ValueError as e:
                raise TableFormatError(
                    f"{path}, line {line}: {name} {cell!r} is not numeric ({e}); {HOW_TO_GET}"
                ) from e
        raise


def _accuracy(path: Path, rows: list[list[str]], pos: dict[str, int], name: str) -> np.ndarray:
    """An accuracy column: numbers in percent, every one present (NaN would silently lose comparisons)."""
    col = _column(path, rows, pos, name, np.float64)
    bad = np.flatnonzero(~np.isfinite(col) | (col < 0) | (col > 100))
    if len(bad):
        line = int(bad[0]) + 2
        raise TableFormatError(
            f"{path}, line {line}: {name} is {col[bad[0]]}, not a percentage in 0..100 ({len(bad)} such rows); "
            f"{HOW_TO_GET}"
        )
    return col


# ---- writing / building ---------------------------------------------------------------------------------------------
def _cell(value: Any, decimals: int = 6) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.{decimals}f}"


def write_table(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write rows (``arch_index``, ``arch_str``, accuracy and params columns; ``naswot_cifar10`` optional) in the
    table schema; ``ops``, ``op_codes`` and ``unique_str`` are derived from ``arch_str``. Floats get 6 decimals."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for row in rows:
            arch = NB201Arch.from_str(row["arch_str"])
            w.writerow(
                [
                    int(row["arch_index"]),
                    str(arch),
                    ",".join(OPS[o] for o in arch),
                    "".join(map(str, arch)),
                    unique_str(arch),
                    *(_cell(row[c]) for c in ACC_COLUMNS.values()),
                    *(int(row[c]) for c in PARAM_COLUMNS.values()),
                    _cell(row.get("naswot_cifar10")),
                ]
            )
    return path


def import_from_nats(
    source_path: str | Path,
    out_path: str | Path,
    hp: str = "200",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Build the table from the official NATS-Bench topology (tss) files via the optional ``nats_bench`` package.

    Accuracies are the mean over seeds (``is_random=False``) after the last epoch of the ``hp`` schedule;
    NATS reports params in millions, stored here as integer counts. The NASWOT column is left empty.
    """
    try:
        nats_bench = importlib.import_module("nats_bench")
    except ImportError as e:
        raise MissingPackageError("importing the NB201 table needs the NATS-Bench API: `pip install nats_bench`") from e
    source = Path(source_path)
    if not source.exists():
        raise FileNotFoundError(f"NATS-Bench tss files not found at {source}; {HOW_TO_GET}")
    api = nats_bench.create(str(source), "tss", fast_mode=True, verbose=False)
    total = len(api)

    def one(i: int) -> dict[str, Any]:
        row: dict[str, Any] = {"arch_index": i, "arch_str": str(NB201Arch.from_str(api.arch(i)))}
        infos: dict[str, dict[str, Any]] = {}
        for key, (nats_ds, metric) in NATS_SOURCES.items():
            if nats_ds not in infos:
                infos[nats_ds] = api.get_more_info(i, nats_ds, hp=hp, is_random=False)
            row[ACC_COLUMNS[key]] = float(infos[nats_ds][metric])
        for d, nats_ds in NATS_PARAM_DATASET.items():
            row[PARAM_COLUMNS[d]] = round(float(api.get_cost_info(i, nats_ds, hp=hp)["params"]) * 1e6)
        # fast_mode caches every arch's results on the api object; drop them to keep memory flat (AutoDL#78)
        cache = getattr(api, "arch2infos_dict", None)
        if isinstance(cache, dict):
            cache.pop(i, None)
        if progress is not None:
            progress(i + 1, total)
        return row

    return write_table((one(i) for i in range(total)), out_path)
