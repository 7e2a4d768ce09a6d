"""`nasflat analyze landscape`: every architecture-space measurement of one (dataset, split) metric, as one dict.

The settings are the command's config keys (validated against this dataclass before any work); ``analyze`` returns
plain JSON-ready results plus the per-architecture arrays for the CSV and the figures.
docs/analysis.md#architecture-space-landscape-analyze-landscape
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from nasflat.analysis import landscape as ls
from nasflat.analysis.landscape_clusters import clustering
from nasflat.analysis.landscape_generalization import selections, topology_correlations
from nasflat.analysis.landscape_paths import A2M_PAIRS, Barrier, barrier, pairwise_barriers
from nasflat.analysis.rank import kendall_tau
from nasflat.spaces.nb201 import Dataset, NB201Space, unique_str


@dataclass(frozen=True)
class LandscapeSettings:
    """The keys of ``conf/analyze_landscape.yaml`` (``split`` has no default: valid and test answer different
    questions)."""

    split: Literal["valid", "test"]
    dataset: Dataset = "cifar10"
    arch: str = ""  # extra architectures for the radius curves: arch strings or benchmark indices, comma-separated
    references: bool = True  # A²M's three reference models (best, first below each mark)
    radii: list[int] = field(default_factory=lambda: [1, 2, 3])
    dedup: bool = False  # drop neighbors functionally identical to the centre or to each other (unique_str)
    top_q: float = 1.0  # percent of the table that counts as "good" for the clustering analysis
    top_k: int = 5  # barriers between every pair of the top-k architectures
    generalization_radius: int = 1  # ball of the neighborhood-mean criterion
    precision_k: list[int] = field(default_factory=lambda: [10, 100])
    bins: int = 60

    def __post_init__(self) -> None:
        if not self.radii or any(not 1 <= r <= ls.NUM_EDGES for r in self.radii):
            raise ValueError(f"radii={self.radii}: each radius must be in 1..{ls.NUM_EDGES}")
        if not 0 < self.top_q <= 100:
            raise ValueError(f"top_q={self.top_q}: a percentage in (0, 100]")


def parse_archs(text: str, table: Any) -> list[int]:
    """Rows of ``arch=``: comma-separated NB201 arch strings or benchmark indices (``81``)."""
    rows = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if item.lstrip("-").isdigit():
            hits = np.flatnonzero(table.arch_index == int(item))
            if not len(hits):
                raise ValueError(f"arch={item}: no architecture has benchmark index {item} in {table.path}")
            rows.append(int(hits[0]))
        else:
            rows.append(table.row(NB201Space.validate(item)))
    return rows


def _ref(label: str, row: int, table: Any, grid: ls.ArchGrid, values: ls.Values, radii: list[int]) -> tuple:
    curve, samples = ls.radius_profile(grid, values, row, radii)
    ref = {
        "label": label,
        "arch_index": int(table.arch_index[row]),
        "arch": str(table.archs[row]),
        "value": float(values.value[row]),
        "curve": curve,
    }
    return ref, samples


def _barrier_dict(b: Barrier, table: Any) -> dict[str, Any]:
    idx = table.arch_index
    return {
        "a_index": int(idx[b.a]),
        "b_index": int(idx[b.b]),
        "distance": b.distance,
        "barrier": b.barrier,
        "a2m_barrier": b.a2m_barrier,
        "path_indices": [int(idx[r]) for r in b.path],
        "level_means": list(b.level_means),
    }


def _references(s: LandscapeSettings, table: Any, grid: ls.ArchGrid, values: ls.Values) -> tuple[list, list]:
    """A²M's three reference models (by this metric) and the ``arch=`` ones: radius curves and neighbor values."""
    chosen = []
    if s.references:
        marks = ls.A2M_MARKS[s.dataset]
        named = ls.reference_rows(values.value, table.arch_index, marks)
        labels = {
            "best": "best",
            "below_average_mark": f"first < {marks[0]:g}",
            "below_bad_mark": f"first < {marks[1]:g}",
        }
        chosen += [(labels[k], r) for k, r in named.items()]
    chosen += [("arch=", r) for r in parse_archs(s.arch, table)]
    pairs = [_ref(label, row, table, grid, values, s.radii) for label, row in chosen]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _topology(table: Any, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    space = NB201Space()
    topo = [space.topology(a) for a in table.archs]
    width = np.array([t["width"] for t in topo], dtype=np.float64)
    depth = np.array([t["depth"] for t in topo], dtype=np.float64)
    corr, groups = topology_correlations(width, depth, value)
    return width, depth, {"correlations": corr, "groups": groups}


def _barriers(s: LandscapeSettings, table: Any, grid: ls.ArchGrid, value: np.ndarray) -> dict[str, list]:
    top = ls.descending(value, table.arch_index)[: s.top_k]
    a2m = []
    for quality, pair in A2M_PAIRS[s.dataset].items():
        hits = [np.flatnonzero(table.arch_index == k) for k in pair]
        if all(len(h) for h in hits):
            b = barrier(grid, value, int(hits[0][0]), int(hits[1][0]))
            a2m.append({"quality": quality, **_barrier_dict(b, table)})
    return {
        "barriers_top_k": [_barrier_dict(b, table) for b in pairwise_barriers(grid, value, top)],
        "barriers_a2m_pairs": a2m,
    }


def _neighborhoods(per_radius: dict[int, dict[str, np.ndarray]], value: np.ndarray) -> dict[str, Any]:
    return {
        str(r): {
            "neighbors_full_space": ls.neighbor_count(r),
            "mean_count": float(st["count"].mean()),
            "mean_of_means": float(np.nanmean(st["mean"])),
            "mean_of_stds": float(np.nanmean(st["std"])),
            "kendall_tau_own_vs_mean": kendall_tau(value, st["mean"]),
        }
        for r, st in per_radius.items()
    }


def analyze(s: LandscapeSettings, table: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(results for landscape.json, per-row arrays and neighbor samples for the CSV and figures)."""
    t0 = time.perf_counter()
    grid = ls.ArchGrid.from_ops([list(a) for a in table.archs])
    value = np.asarray(table.column(s.dataset, s.split), dtype=np.float64)
    if s.dedup:
        values = ls.Values.dedup(value, [unique_str(a) for a in table.archs], table.arch_index)
    else:
        values = ls.Values(value)
    per_radius = {r: ls.neighborhood_stats(grid, values, r) for r in s.radii}
    refs, samples = _references(s, table, grid, values)
    width, depth, topology = _topology(table, value)
    gen = selections(grid, table.column, table.arch_index, s.generalization_radius, s.precision_k)
    results = {
        "settings": asdict(s),
        "table": str(table.path),
        "metric": f"{s.dataset} {s.split}",
        "population": ls.describe(values.population()),
        "neighborhoods": _neighborhoods(per_radius, value),
        "references": refs,
        "clustering": clustering(grid, value, table.arch_index, s.top_q, tuple(s.radii)).as_dict(),
        **_barriers(s, table, grid, value),
        "generalization": [g.as_dict(table.arch_index) for g in gen],
        "topology": topology,
    }
    results["wall_time_s"] = time.perf_counter() - t0
    arrays = {"value": value, "width": width, "depth": depth, "per_radius": per_radius, "samples": samples,
              "population": values.population()}  # fmt: skip
    return results, arrays
