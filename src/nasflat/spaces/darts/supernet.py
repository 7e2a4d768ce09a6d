"""The DARTS cell space: one weight-sharing supernet and the ``DartsSpace`` contract.

The supernet has no mode state. ``forward(x, choice)`` takes either
- per-edge op weights ``{"normal": (14, K), "reduce": (14, K)}``: DARTS's MixedOp, ``sum_k w[e, k] * op_k(x)`` on
  every edge (the caller applies softmax or whatever relaxation it uses), or
- a discrete architecture: a ``Genotype``, or the dense SPOS candidate form (GeNAS's 28 ints, or
  ``{"normal": 14 ints, "reduce": 14 ints}``; op index into the 8-op DARTS list, 0 = no edge, for both op sets):
  only the chosen ops on the chosen edges run (single path).

``affine=False`` is the DARTS search network (BN without affine parameters, pooling followed by BN); ``affine=True``
is the SPOS/GeNAS supernet (affine BN everywhere, pooling followed by affine BN). ``op_set="darts7"`` is A²M's
variant without ``none``. Architecture values, formats and the neighborhood are defined in ``codec``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nasflat.spaces.base import ArchFormatError
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.darts.codec import (
    CELLS,
    DARTS8_OPS,
    FULL_CONCAT,
    NODE_OFFSETS,
    NUM_EDGES,
    NUM_NODES,
    OP_SETS,
    Genotype,
)
from nasflat.spaces.darts.network import OPS, preprocess
from nasflat.spaces.ops import FactorizedReduce, Identity, bn

# A single path per cell: for each intermediate node, the (input, op index into the supernet's op list) pairs it sums.
Path = tuple[tuple[tuple[int, int], ...], ...]


def search_op(name: str, c: int, stride: int, affine: bool) -> nn.Module:
    """A candidate op of the search cell; pooling gets a BN so its scale matches the BN'd conv ops."""
    op = OPS[name](c, stride, affine)
    return nn.Sequential(op, bn(c, affine)) if "pool" in name else op


class MixedEdge(nn.Module):
    """All candidate ops of one edge, plus DARTS-'s auxiliary skip when built with ``aux_skip``."""

    def __init__(self, op_names: Sequence[str], c: int, stride: int, affine: bool, aux_skip: bool = False) -> None:
        super().__init__()
        self.ops = nn.ModuleList(search_op(name, c, stride, affine) for name in op_names)
        if aux_skip:  # A²M's DARTS-: identity, or a non-affine FactorizedReduce on stride-2 edges
            self.aux = FactorizedReduce(c, c, affine=False) if stride == 2 else Identity()

    def forward(self, x: torch.Tensor, w: torch.Tensor, aux_skip: float = 0.0) -> torch.Tensor:
        out = sum(w[k] * op(x) for k, op in enumerate(self.ops))  # w: (K,)
        return out + aux_skip * self.aux(x) if aux_skip else out


class SearchCell(nn.Module):
    """Two preprocessed inputs, four nodes, 14 mixed edges; output = concat of all four nodes."""

    def __init__(
        self,
        op_names: Sequence[str],
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        affine: bool,
        aux_skip: bool = False,
    ) -> None:
        super().__init__()
        self.reduction, self.c = reduction, c
        self.preprocess0, self.preprocess1 = preprocess(c_prev_prev, c_prev, c, reduction_prev, affine)
        self.edges = nn.ModuleList(
            MixedEdge(op_names, c, 2 if reduction and j < 2 else 1, affine, aux_skip)
            for node in range(2, 2 + NUM_NODES)
            for j in range(node)
        )

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, choice: torch.Tensor | Path, aux_skip: float = 0.0
    ) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]  # (B, C, H, W) each
        for n in range(NUM_NODES):
            offset = NODE_OFFSETS[n]
            if isinstance(choice, torch.Tensor):  # (14, K) mixture weights
                terms = [self.edges[offset + j](h, choice[offset + j], aux_skip) for j, h in enumerate(states)]
            else:
                terms = [self.edges[offset + j].ops[k](states[j]) for j, k in choice[n]]
            states.append(sum(terms) if terms else self._zeros(states[1]))
        return torch.cat(states[2:], dim=1)  # (B, 4C, H', W')

    def _zeros(self, s: torch.Tensor) -> torch.Tensor:
        """Output of a node without inputs (possible only in a dense SPOS candidate)."""
        return s[:, :, ::2, ::2].mul(0.0) if self.reduction else s.mul(0.0)


class DartsSupernet(nn.Module):
    """The DARTS search network (stem, ``layers`` cells with reductions at 1/3 and 2/3, pooling, classifier)."""

    def __init__(
        self,
        num_classes: int = 10,
        C: int = 16,
        layers: int = 8,
        stem_multiplier: int = 3,
        op_set: str = "darts8",
        affine: bool = False,
        aux_skip: bool = False,
    ) -> None:
        super().__init__()
        if op_set not in OP_SETS:
            raise ValueError(f"unknown op_set {op_set!r}; choose one of {sorted(OP_SETS)}")
        self.op_set, self.op_names, self.affine, self.layers = op_set, OP_SETS[op_set], affine, layers
        self.aux_skip = aux_skip
        c_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), bn(c_stem))
        c_prev_prev, c_prev, c = c_stem, c_stem, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2
            self.cells.append(
                SearchCell(self.op_names, c_prev_prev, c_prev, c, reduction, reduction_prev, affine, aux_skip)
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, NUM_NODES * c
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return {cell: (NUM_EDGES, len(self.op_names)) for cell in CELLS}

    def forward(self, x: torch.Tensor, choice: Any, aux_skip: float = 0.0) -> torch.Tensor:
        """``aux_skip``: weight of DARTS-'s auxiliary skip on every edge (mixture only; build with aux_skip=True)."""
        plan = self.plan(choice)
        if aux_skip:
            if not self.aux_skip:
                raise ValueError("forward(..., aux_skip>0) needs a supernet built with aux_skip=True (DARTS-)")
            if not all(isinstance(p, torch.Tensor) for p in plan.values()):
                raise ValueError("DARTS-'s auxiliary skip applies to the mixture only, not to a single path")
        s0 = s1 = self.stem(x)  # (B, 3C, H, W)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, plan["reduce" if cell.reduction else "normal"], aux_skip)
        return self.classifier(self.global_pooling(s1).flatten(1))  # (B, num_classes)

    # ---- what to run ----------------------------------------------------------------------------------------------
    def plan(self, choice: Any) -> dict[str, torch.Tensor | Path]:
        """Per cell type: a (14, K) weight tensor or a single path."""
        if isinstance(choice, Genotype):
            if choice.normal_concat != FULL_CONCAT or choice.reduce_concat != FULL_CONCAT:
                raise ArchFormatError(
                    "supernet cells concatenate all four nodes; the genotype's concat must be [2, 3, 4, 5], got "
                    f"normal_concat={list(choice.normal_concat)}, reduce_concat={list(choice.reduce_concat)}"
                )
            return {cell: self._genotype_path(choice.cell(cell)) for cell in CELLS}
        if isinstance(choice, Mapping):
            missing = [c for c in CELLS if c not in choice]
            if missing:
                raise ValueError(f"choice mapping lacks {missing}; expected keys {list(CELLS)}")
            return {cell: self._cell_plan(cell, choice[cell]) for cell in CELLS}
        if isinstance(choice, (Sequence, np.ndarray, torch.Tensor)) and not isinstance(choice, str):
            code = [int(v) for v in (choice.reshape(-1).tolist() if hasattr(choice, "reshape") else choice)]
            if len(code) == 2 * NUM_EDGES:
                return {
                    "normal": self._dense_path("normal", code[:14]),
                    "reduce": self._dense_path("reduce", code[14:]),
                }
        raise TypeError(
            "choice must be {'normal': (14, K) weights, 'reduce': (14, K) weights}, a Genotype, or a dense SPOS "
            f"candidate (28 ints or {{'normal': 14 ints, 'reduce': 14 ints}}); got {type(choice).__name__}"
        )

    def _cell_plan(self, cell: str, value: Any) -> torch.Tensor | Path:
        k = len(self.op_names)
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            if value.shape != (NUM_EDGES, k):
                raise ValueError(
                    f"{cell} weights must have shape (14, {k}) for op_set {self.op_set!r}, got {tuple(value.shape)}"
                )
            return value
        values = value.tolist() if hasattr(value, "tolist") else list(value)
        return self._dense_path(cell, values)

    def _genotype_path(self, pairs: dg.Cell) -> Path:
        index = {name: k for k, name in enumerate(self.op_names)}
        return tuple(tuple((j, index[op]) for op, j in pairs[2 * n : 2 * n + 2]) for n in range(NUM_NODES))

    def _dense_path(self, cell: str, ops14: Sequence[int]) -> Path:
        if len(ops14) != NUM_EDGES or any(not 0 <= int(v) < len(DARTS8_OPS) for v in ops14):
            raise ArchFormatError(f"{cell}: a dense candidate needs 14 op indices in 0..7 (0 = no edge), got {ops14}")
        shift = len(DARTS8_OPS) - len(self.op_names)  # darts7 has no `none`: 8-op index m -> m - 1
        return tuple(
            tuple((j, int(ops14[off + j]) - shift) for j in range(n + 2) if ops14[off + j])
            for n, off in enumerate(NODE_OFFSETS)
        )
