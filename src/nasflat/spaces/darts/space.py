"""The DARTS cell space contract: genotype values, sampling, neighbours, derivation and the networks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from nasflat.flops import count_macs
from nasflat.spaces.base import ArchFormatError, IntEncoding, SearchSpace, Weights
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.darts.codec import (
    CELLS,
    FULL_CONCAT,
    NODE_OFFSETS,
    NUM_EDGES,
    NUM_NODES,
    PARAM_FREE_OPS,
    Genotype,
)
from nasflat.spaces.darts.network import NETWORK_DEFAULTS, build_network
from nasflat.spaces.darts.op_sets import OpSet, OpSetName, get_op_set
from nasflat.spaces.darts.supernet import DartsSupernet
from nasflat.spaces.ops import count_parameters
from nasflat.spaces.topology import darts_graph, topology


class DartsSpace(SearchSpace):
    """The DARTS (NASNet-style) cell space with the op set ``op_set``: the 8 DARTS ops (``darts8``), A²M's 7 without
    ``none`` (``darts7``), or RobustDARTS's S1–S4 (``s1``: per-edge lists, from ``op_set_file`` when given)."""

    name = "darts"

    def __init__(self, op_set: OpSetName = "darts8", op_set_file: str | None = None) -> None:
        self.op_set = op_set
        self.edge_ops: OpSet = get_op_set(op_set, op_set_file)
        # non-`none` ops per edge for sampling and moves; None = the 7 DARTS ops everywhere (the fast path)
        self._choices = None if op_set in ("darts8", "darts7") else self.edge_ops.choices()

    @property
    def ops(self) -> tuple[str, ...]:
        """The op list every edge offers (index order of the weights' K axis); S1 has none: use ``ops_of``."""
        shared = self.edge_ops.shared
        if shared is None:
            raise ValueError(f"op_set {self.op_set!r} has a different op list per edge; use space.ops_of(cell, edge)")
        return shared

    def ops_of(self, cell: str, e: int) -> tuple[str, ...]:
        """The ops edge ``e`` of cell type ``cell`` offers: op index k there means ``ops_of(cell, e)[k]``."""
        return self.edge_ops.ops_of(cell, e)

    # ---- architecture values -------------------------------------------------------------------------------------
    def parse(self, text: str) -> Genotype:
        return self.validate(dg.parse_genotype(text))

    def format(self, arch: Genotype) -> str:
        return dg.format_genotype(self.validate(arch))

    def validate(self, arch: Any) -> Genotype:
        """Accepts a Genotype, its text, its JSON (dict or string) or GeNAS's 28 ints; every chosen op must be
        offered by its edge in this op set."""
        if isinstance(arch, Genotype):
            g = arch
        elif isinstance(arch, str):
            g = dg.from_json(arch) if arch.lstrip().startswith("{") else dg.parse_genotype(arch)
        elif isinstance(arch, Mapping):
            g = dg.from_json(arch)
        elif isinstance(arch, (Sequence, np.ndarray)) and len(arch) == 2 * NUM_EDGES:
            g = dg.decode_genas(list(arch))
        else:
            raise ArchFormatError(
                f"not a DARTS architecture: {arch!r} (expected a Genotype, its text, its JSON or GeNAS's 28 ints)"
            )
        return self.edge_ops.check(g)

    def sample(self, rng: np.random.Generator) -> Genotype:
        """darts8: SPOS's uniform-op-then-repair rule; other sets: two uniform inputs per node, a uniform op each."""
        return dg.sample_darts8(rng) if self.op_set == "darts8" else dg.sample_per_node(rng, self._choices)

    def mutate(self, arch: Genotype, rng: np.random.Generator, scheme: str = "uniform") -> Genotype:
        self.check_mutation(scheme)
        return dg.mutate(self.validate(arch), rng, self._choices)

    def neighbors(self, arch: Genotype, radius: int = 1) -> list[Genotype]:
        return dg.neighbors(self.validate(arch), radius, self._choices)

    def canonical(self, arch: Genotype) -> Genotype:
        return dg.canonical(self.validate(arch))

    def encode(self, arch: Genotype) -> list[int]:
        if self.op_set != "darts8":
            raise ArchFormatError("the 28-integer (GeNAS) encoding is defined for op_set 'darts8' only")
        return dg.encode_genas(self.validate(arch))

    def decode(self, code: Sequence[int]) -> Genotype:
        """Inverse of ``encode`` (GeNAS ``parse_searched_cell``, with validation)."""
        return self.validate(dg.decode_genas(code))

    def encoding(self) -> IntEncoding:
        """GeNAS's 28 ints (normal cell first), repaired by SPOS's two-inputs-per-node rule; darts8 only."""
        if self.op_set != "darts8":
            raise ValueError(
                f"the GeNAS evolution works on the 28-int encoding of op_set=darts8; got op_set={self.op_set!r} "
                "(use algo=rea or algo=rs)"
            )
        cells = ((0, NUM_EDGES), (NUM_EDGES, 2 * NUM_EDGES))
        return IntEncoding(2 * NUM_EDGES, len(dg.DARTS8_OPS), cells, dg.spos_repair)

    # ---- continuous relaxation -----------------------------------------------------------------------------------
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return {cell: (NUM_EDGES, self.edge_ops.num_ops) for cell in CELLS}

    def incoming_edges(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        """Per cell type, per intermediate node 2..5, the indices of the edges entering it."""
        nodes = tuple(tuple(range(off, off + n + 2)) for n, off in enumerate(NODE_OFFSETS))
        return {cell: nodes for cell in CELLS}

    def derive(self, weights: Weights, **options: Any) -> Genotype:
        """DARTS discretization of already-normalized weights (no softmax applied here), per edge's op list."""
        if options:
            raise TypeError(f"DartsSpace.derive takes no options, got {sorted(options)}")
        cells = [dg.derive_cell(weights[cell], self.edge_ops.edges(cell)) for cell in CELLS]
        return Genotype._trusted(cells[0], FULL_CONCAT, cells[1], FULL_CONCAT)

    def one_hot(self, arch: Genotype) -> dict[str, torch.Tensor]:
        """(14, K) per cell: 1 on each chosen (edge, op); other edges one-hot on ``none`` where the edge offers it,
        else all zero."""
        arch = self.validate(arch)
        out = {}
        for cell in CELLS:
            w = torch.zeros(NUM_EDGES, self.edge_ops.num_ops)
            for e, ops in enumerate(self.edge_ops.edges(cell)):
                if "none" in ops:
                    w[e, ops.index("none")] = 1.0
            for slot, (op, j) in enumerate(arch.cell(cell)):
                e = dg.edge_index(2 + slot // 2, j)
                w[e].zero_()
                w[e, self.edge_ops.index(cell, e, op)] = 1.0
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
        partial_channels: int = 1,
    ) -> DartsSupernet:
        """``partial_channels=K``: PC-DARTS's partial channel connection on every mixed edge (ops see C/K channels)."""
        return DartsSupernet(
            num_classes, C, layers, stem_multiplier, self.edge_ops, affine, aux_skip, partial_channels=partial_channels
        )

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
