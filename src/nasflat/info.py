"""`nasflat info`: a JSON-ready summary of one architecture (cell, cost, benchmark accuracies)."""

from __future__ import annotations

from typing import Any

from nasflat.flops import count_macs
from nasflat.pipeline import benchmark_entry
from nasflat.spaces.base import Arch, SearchSpace
from nasflat.spaces.ops import count_parameters

# NB201 standalone networks per dataset: (classes, input resolution)
NB201_SETTINGS = {"cifar10": (10, 32), "cifar100": (100, 32), "imagenet16_120": (120, 16)}


def describe(space: SearchSpace, arch: Arch, table: Any = None) -> dict[str, Any]:
    """Space-provided cell summary plus parameter/MAC counts and (NB201) benchmark accuracies."""
    out: dict[str, Any] = {"space": space.name, **space.describe(arch)}
    if space.name == "nb201":
        cost = {}
        for ds, (classes, res) in NB201_SETTINGS.items():
            net = space.network(arch, classes)
            cost[ds] = {"params": count_parameters(net), "macs": count_macs(net, (3, res, res))}
        out["cost"] = cost
        if table is not None:
            out["benchmark_index"] = table.index(arch)
            out["benchmark"] = benchmark_entry(table, arch)
    return out
