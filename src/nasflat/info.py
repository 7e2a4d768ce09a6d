"""`nasflat info`: a JSON-ready summary of one architecture (cell, cost, benchmark accuracies)."""

from __future__ import annotations

from typing import Any

from nasflat.pipeline import table_for
from nasflat.spaces.base import Arch, SearchSpace


def describe(space: SearchSpace, arch: Arch, table: Any = None) -> dict[str, Any]:
    """The space's own cell summary (with its networks' cost), plus the benchmark entry when ``table`` covers the
    space."""
    out: dict[str, Any] = {"space": space.name, **space.describe(arch)}
    if (table := table_for(space, table)) is not None:
        out["benchmark_index"] = table.index(arch)
        out["benchmark"] = table.entry(arch)
    return out
