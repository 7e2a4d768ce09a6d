"""The DARTS cell space contract: genotype values, sampling, neighbours, derivation and the networks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from nasflat.flops import count_macs
from nasflat.spaces.base import ArchFormatError, SearchSpace, Weights
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.darts.codec import (
    CELLS,
    FULL_CONCAT,
    NUM_EDGES,
    NUM_NODES,
    OP_SETS,
    PARAM_FREE_OPS,
    Genotype,
)
from nasflat.spaces.darts.network import NETWORK_DEFAULTS, build_network
from nasflat.spaces.darts.supernet import DartsSupernet
from nasflat.spaces.ops import count_parameters
from nasflat.spaces.topology import darts_graph, topology


class DartsSpace(SearchSpace):
    """The DARTS (NASNet-style) cell space, 8 ops (``darts8``) or A²M's 7 ops without ``none`` (``darts7``)."""

    name = "darts"

    def __init__(self, op_set: Literal["darts8", "darts7"] = "darts8") -> None:
        if op_set not in OP_SETS:
            raise ValueError(f"unknown op_set {op_set!r}; choose one of {sorted(OP_SETS)}")
        self.op_set = op_set
        self.ops = OP_SETS[op_set]

    # ---- architecture values -------------------------------------------------------------------------------------
    def parse(self, text: str) -> Genotype:
        return dg.parse_genotype(text)

    def format(self, arch: Genotype) -> str:
        return dg.format_genotype(self.validate(arch))

    def validate(self, arch: Any) -> Genotype:
        """Accepts a Genotype, its text, its JSON (dict or string) or GeNAS's 28 ints."""
        if isinstance(arch, Genotype):
            return arch
        if isinstance(arch, str):
            return dg.from_json(arch) if arch.lstrip().startswith("{") else dg.parse_genotype(arch)
        if isinstance(arch, Mapping):
            return dg.from_json(arch)
        if isinstance(arch, (Sequence, np.ndarray)) and len(arch) == 2 * NUM_EDGES:
            return dg.decode_genas(list(arch))
        raise ArchFormatError(
            f"not a DARTS architecture: {arch!r} (expected a Genotype, its text, its JSON or GeNAS's 28 ints)"
        )

    def sample(self, rng: np.random.Generator) -> Genotype:
        return dg.sample_darts8(rng) if self.op_set == "darts8" else dg.sample_darts7(rng)

    def mutate(self, arch: Genotype, rng: np.random.Generator) -> Genotype:
        return dg.mutate(self.validate(arch), rng)

    def neighbors(self, arch: Genotype, radius: int = 1) -> list[Genotype]:
        return dg.neighbors(self.validate(arch), radius)

    def canonical(self, arch: Genotype) -> Genotype:
        return dg.canonical(self.validate(arch))

    def encode(self, arch: Genotype) -> list[int]:
        if self.op_set != "darts8":
            raise ArchFormatError("the 28-integer (GeNAS) encoding is defined for op_set 'darts8' only")
        return dg.encode_genas(self.validate(arch))

    def decode(self, code: Sequence[int]) -> Genotype:
        """Inverse of ``encode`` (GeNAS ``parse_searched_cell``, with validation)."""
        return dg.decode_genas(code)

    # ---- continuous relaxation -----------------------------------------------------------------------------------
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return {cell: (NUM_EDGES, len(self.ops)) for cell in CELLS}

    def derive(self, weights: Weights, **options: Any) -> Genotype:
        """DARTS discretization of already-normalized weights (no softmax applied here)."""
        if options:
            raise TypeError(f"DartsSpace.derive takes no options, got {sorted(options)}")
        cells = [dg.derive_cell(weights[cell], self.ops) for cell in CELLS]
        return Genotype._trusted(cells[0], FULL_CONCAT, cells[1], FULL_CONCAT)

    def one_hot(self, arch: Genotype) -> dict[str, torch.Tensor]:
        """(14, K) per cell: 1 on each chosen (edge, op); other edges one-hot on ``none`` (darts8) or all zero."""
        arch = self.validate(arch)
        out = {}
        for cell in CELLS:
            w = torch.zeros(NUM_EDGES, len(self.ops))
            if "none" in self.ops:
                w[:, self.ops.index("none")] = 1.0
            for slot, (op, j) in enumerate(arch.cell(cell)):
                e = dg.edge_index(2 + slot // 2, j)
                w[e].zero_()
                w[e, self.ops.index(op)] = 1.0
            out[cell] = w
        return out

    def topology(self, arch: Genotype) -> dict[str, float | int]:
        """Shu et al.'s width (units of c) and depth of the normal cell, and ``reduce_*`` of the reduction cell.
        docs/analysis.md#cell-topology-width-and-depth"""
        g = self.validate(arch)
        normal = topology(darts_graph(g.normal, g.normal_concat))
        reduce = topology(darts_graph(g.reduce, g.reduce_concat))
        return {**normal, **{f"reduce_{k}": v for k, v in reduce.items()}}

    def param_free_ops(self, arch: Genotype) -> int:
        arch = self.validate(arch)
        return sum(op in PARAM_FREE_OPS for cell in CELLS for op, _ in arch.cell(cell))

    # ---- networks ------------------------------------------------------------------------------------------------
    def supernet(
        self,
        num_classes: int,
        C: int = 16,
        layers: int = 8,
        stem_multiplier: int = 3,
        affine: bool = False,
        aux_skip: bool = False,
    ) -> DartsSupernet:
        return DartsSupernet(num_classes, C, layers, stem_multiplier, self.op_set, affine, aux_skip)

    def network(
        self,
        arch: Genotype,
        num_classes: int,
        kind: Literal["cifar", "imagenet"] = "cifar",
        layers: int | None = None,
        C: int | None = None,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
        keep_none: bool = True,
    ) -> nn.Module:
        """quark0's evaluation network. Its cells run every genotype op, ``none`` as a zero op in the graph, so they
        always behave as NB201's ``keep_none=True`` (the option exists for NASWOT's space-independent call)."""
        if not keep_none:
            raise ValueError("DARTS evaluation cells always run `none` as a zero op; keep_none=False is not offered")
        return build_network(self.validate(arch), num_classes, kind, layers, C, auxiliary, drop_path_prob)

    def describe(self, arch: Genotype) -> dict[str, Any]:
        """Cells, parameter-free op count, and params (M, no aux head) / MACs (M) of the CIFAR and ImageNet nets."""
        arch = self.validate(arch)
        cells = {}
        for cell in CELLS:
            pairs = arch.cell(cell)
            cells[cell] = [
                {
                    "node": 2 + n,
                    "inputs": [j for _, j in pairs[2 * n : 2 * n + 2]],
                    "ops": [op for op, _ in pairs[2 * n : 2 * n + 2]],
                }
                for n in range(NUM_NODES)
            ]
        out: dict[str, Any] = {
            "genotype": dg.format_genotype(arch),
            "cells": cells,
            "param_free_ops": self.param_free_ops(arch),
            "topology": self.topology(arch),
        }
        for kind, classes, size in (("cifar", 10, 32), ("imagenet", 1000, 224)):
            net = build_network(arch, classes, kind)
            out[kind] = {
                **NETWORK_DEFAULTS[kind],
                "num_classes": classes,
                "input": [3, size, size],
                "params_M": round(count_parameters(net) / 1e6, 6),
                "macs_M": round(count_macs(net, (3, size, size)) / 1e6, 3),
            }
        return out
