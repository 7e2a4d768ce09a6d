"""Published numbers of the papers nasflat reproduces, kept as data with their source and protocol.

Why data, not code: a number someone compares against must say where it was read (paper table, README, code, log),
whether that was checked against the source (``Source.verified``), and under which protocol it was measured. Each
table lives in ``published/<name>.json``; docs/published.md lists them with what could not be verified.

JSON layout of a table file: ``name``, ``title``, ``space``, ``protocol`` (search_dataset, split, epochs, seeds,
notes), ``sources`` (key -> Source fields, so rows that share a source do not repeat it), ``rows`` (each names its
source by key), ``unverified`` (plain sentences) and, optionally, ``rows_from`` (``{"table": ..., "methods": [...]}``:
rows taken from another table, so one published number is written once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

METRICS = frozenset(
    {
        "valid_acc",
        "test_acc",
        "test_error",
        "params_m",
        "search_cost_gpu_days",
        "search_cost_s",  # the NB201 paper and NASWOT give search time in seconds
        "kendall_tau",
        "spearman_rho",
        "top1",
        "flops_g",
    }
)
DATASETS = frozenset({"cifar10", "cifar100", "imagenet16_120", "imagenet"})
SOURCE_KINDS = frozenset({"paper", "readme", "code", "log"})
PROTOCOL_KEYS = frozenset({"search_dataset", "split", "epochs", "seeds", "notes"})
DATA_DIR = "published"  # a data folder beside this module (no __init__.py, so ``published.py`` stays the module)


@dataclass(frozen=True)
class Source:
    """Where a number was read; ``verified`` is True only if it was seen there, not recalled."""

    citation: str
    url: str
    kind: str
    verified: bool
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"source kind {self.kind!r} is not one of {sorted(SOURCE_KINDS)}")
        if not self.citation or not self.url:
            raise ValueError("a source needs a citation and a url")


@dataclass(frozen=True)
class Published:
    """One published number: mean (± std over n runs where the source gives them), percentages as printed."""

    method: str
    dataset: str
    metric: str
    mean: float
    std: float | None
    n: int | None
    source: Source
    note: str = ""

    def __post_init__(self) -> None:
        where = f"{self.method}/{self.dataset}/{self.metric}"
        if self.metric not in METRICS:
            raise ValueError(f"{where}: metric {self.metric!r} is not one of {sorted(METRICS)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"{where}: dataset {self.dataset!r} is not one of {sorted(DATASETS)}")
        if self.method != self.method.lower() or not self.method:
            raise ValueError(f"{where}: method ids are lower-case")
        if self.std is not None and self.std < 0:
            raise ValueError(f"{where}: std {self.std} < 0")
        if self.n is not None and self.n < 1:
            raise ValueError(f"{where}: n {self.n} < 1")


@dataclass(frozen=True)
class PublishedTable:
    """A paper's table (or a README's) as rows, with its protocol and what could not be verified."""

    name: str
    title: str
    space: str
    protocol: dict[str, Any] = field(hash=False)
    rows: tuple[Published, ...]
    unverified: tuple[str, ...]

    def __post_init__(self) -> None:
        if missing := PROTOCOL_KEYS - set(self.protocol):
            raise ValueError(f"table {self.name}: protocol lacks {sorted(missing)}")
        keys = [(r.method, r.dataset, r.metric) for r in self.rows]
        if dupes := sorted({k for k in keys if keys.count(k) > 1}):
            raise ValueError(f"table {self.name}: duplicate (method, dataset, metric) rows {dupes}")

    def rows_for(self, method: str, dataset: str | None = None, metric: str | None = None) -> list[Published]:
        """The rows of ``method``, optionally of one dataset and/or metric, in table order."""
        return [
            r for r in self.rows if r.method == method and dataset in (None, r.dataset) and metric in (None, r.metric)
        ]

    @property
    def methods(self) -> list[str]:
        """The table's methods in first-appearance order."""
        return list(dict.fromkeys(r.method for r in self.rows))


def _row(raw: dict[str, Any], sources: dict[str, Source], table: str) -> Published:
    if raw["source"] not in sources:
        raise ValueError(f"table {table}: row {raw['method']} cites unknown source {raw['source']!r}")
    return Published(
        method=raw["method"],
        dataset=raw["dataset"],
        metric=raw["metric"],
        mean=float(raw["mean"]),
        std=None if raw.get("std") is None else float(raw["std"]),
        n=raw.get("n"),
        source=sources[raw["source"]],
        note=raw.get("note", ""),
    )


def _data() -> Any:
    return resources.files(__package__).joinpath(DATA_DIR)


def _read(name: str) -> dict[str, Any]:
    return json.loads(_data().joinpath(f"{name}.json").read_text(encoding="utf-8"))


def table_from_dict(raw: dict[str, Any], borrowed: tuple[Published, ...] = ()) -> PublishedTable:
    """Build (and validate) a table from its JSON structure; ``borrowed`` rows come first (``rows_from``)."""
    sources = {key: Source(**fields) for key, fields in raw.get("sources", {}).items()}
    rows = borrowed + tuple(_row(r, sources, raw["name"]) for r in raw["rows"])
    return PublishedTable(
        name=raw["name"],
        title=raw["title"],
        space=raw["space"],
        protocol=dict(raw["protocol"]),
        rows=rows,
        unverified=tuple(raw["unverified"]),
    )


def _names() -> list[str]:
    files = _data().iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


@cache
def _load(name: str) -> PublishedTable:
    raw = _read(name)
    if raw["name"] != name:
        raise ValueError(f"published/{name}.json names itself {raw['name']!r}")
    borrowed: tuple[Published, ...] = ()
    if ref := raw.get("rows_from"):
        other = _load(ref["table"])
        borrowed = tuple(r for m in ref["methods"] for r in other.rows_for(m))
        if {r.method for r in borrowed} != set(ref["methods"]):
            raise ValueError(f"table {name}: rows_from {ref} names methods {ref['table']} does not have")
    return table_from_dict(raw, borrowed)


def published_tables() -> dict[str, PublishedTable]:
    """Every published table shipped with the package, by name (loaded once)."""
    return {name: _load(name) for name in _names()}


def published_table(name: str) -> PublishedTable:
    """One table by name; an unknown name raises ValueError listing the known ones."""
    known = _names()
    if name not in known:
        raise ValueError(f"unknown published table {name!r}; known tables: {', '.join(known)}")
    return _load(name)
