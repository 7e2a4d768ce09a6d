"""ABS angle of a supernet path (GeNAS ``cand_evaluator.get_angle``, from RLNAS; docs/methods.md#angle).

The angle between a path's weight vector at initialisation and after training: arccos(cos(v_0, v_T)); larger is
better. The vector follows the ABS construction: inside every cell, each input->node chain of the cell's DAG whose
edges are all non-``none`` contributes the concatenated vectors of its edges (an edge appears once per chain through
it); parameter-free ops enter as constants (pooling: a (C, 3, 3) kernel of 1/9, plus the BN that follows it in the
DARTS supernet; identity: eye(C)); then the parameters outside cells are added once (stem, cell preprocessing,
NB201's residual blocks and last BN, the classifier weight). Only the multiset of (initial, final) entries matters.

Chains: DARTS cells concatenate all four intermediate nodes, so every chain from input 0 or 1 through increasing
intermediate nodes counts (30 chains, ABS's ``config.paths``); an NB201 cell outputs node 3 only, so its chains are
the four from node 0 to node 3 (a labelled port: ABS was not released for NB201). Deviation: ABS's ``dil_conv``
vector repeats the BN weight where it meant the BN bias; we use the bias.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from nasflat.evaluators.base import Evaluator
from nasflat.spaces import nb201
from nasflat.spaces.base import Arch
from nasflat.spaces.darts import DartsSupernet
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.ops import Identity

_POOLS = (nn.AvgPool2d, nn.MaxPool2d)


def _flat(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().reshape(-1) for p in module.parameters()]


def _op_vector(op: nn.Module, channels: int, like: torch.Tensor) -> torch.Tensor:
    """An op's parameters, with ABS's constants for the parameter-free parts (pool kernel, identity matrix)."""
    parts = _flat(op)
    first = op[0] if isinstance(op, nn.Sequential) and len(op) else op
    if isinstance(first, _POOLS):
        parts.insert(0, torch.full((channels * 9,), 1.0 / 9.0, dtype=like.dtype, device=like.device))
    elif isinstance(op, Identity):
        parts.append(torch.eye(channels, dtype=like.dtype, device=like.device).reshape(-1))
    return torch.cat(parts) if parts else like.new_zeros(0)


def darts_chains() -> list[tuple[int, ...]]:
    """ABS's 30 chains of a DARTS cell: input 0 or 1, then any increasing non-empty set of nodes 2..5."""
    out = []
    for inp in (0, 1):
        for k in range(1, 5):
            out += [(inp, *nodes) for nodes in itertools.combinations(range(2, 6), k)]
    return out


NB201_CHAINS: tuple[tuple[int, ...], ...] = ((0, 1, 2, 3), (0, 1, 3), (0, 2, 3), (0, 3))


def _darts_vector(model: DartsSupernet, arch: Any) -> torch.Tensor:
    like = next(model.parameters())
    plan = model.plan(arch)  # per cell type: node -> ((input, op index), ...) of the non-`none` edges
    cells, extra = [], _flat(model.stem)
    for cell in model.cells:
        chosen = {}
        for n, pairs in enumerate(plan["reduce" if cell.reduction else "normal"]):
            for j, k in pairs:
                chosen[dg.NODE_OFFSETS[n] + j] = k
        for chain in darts_chains():
            edges = [dg.NODE_OFFSETS[b - 2] + a for a, b in itertools.pairwise(chain)]
            if all(e in chosen for e in edges):
                cells += [_op_vector(cell.edges[e].ops[chosen[e]], cell.c, like) for e in edges]
        extra += _flat(cell.preprocess0) + _flat(cell.preprocess1)
    extra.append(model.classifier.weight.detach().reshape(-1))
    return torch.cat(cells + extra)


def _nb201_vector(model: nb201.NB201SuperNet, arch: Any) -> torch.Tensor:
    like = next(model.parameters())
    arch = nb201.NB201Space.validate(arch)
    edge = {e: k for k, e in enumerate(nb201.EDGES)}  # (target, source) -> edge index
    cells, extra = [], _flat(model.stem)
    for cell in model.cells:
        if not isinstance(cell, nb201.SearchCell):
            extra += _flat(cell)  # residual reduction block
            continue
        channels = cell.edges[0][nb201.CONV1][1].in_channels
        for chain in NB201_CHAINS:
            edges = [edge[(b, a)] for a, b in itertools.pairwise(chain)]
            if all(arch[e] != nb201.NONE for e in edges):
                cells += [_op_vector(cell.edges[e][arch[e]], channels, like) for e in edges]
    extra += _flat(model.lastact)
    extra.append(model.classifier.weight.detach().reshape(-1))
    return torch.cat(cells + extra)


def path_vector(model: nn.Module, arch: Any) -> torch.Tensor:
    """ABS's weight vector of ``arch``'s path in ``model`` (an NB201 or DARTS supernet)."""
    if isinstance(model, DartsSupernet):
        return _darts_vector(model, arch)
    if isinstance(model, nb201.NB201SuperNet):
        return _nb201_vector(model, arch)
    raise TypeError(f"the angle metric knows NB201 and DARTS supernets, got {type(model).__name__}")


def angle(v0: torch.Tensor, v1: torch.Tensor) -> float:
    """arccos of the cosine similarity, computed in float64 (clamped against rounding just outside [-1, 1])."""
    a, b = v0.double(), v1.double()
    cos = torch.dot(a, b) / (a.norm() * b.norm())
    return float(torch.arccos(cos.clamp(-1.0, 1.0)))


class AngleEvaluator(Evaluator):
    """ABS: angle between the path's initial and trained weights (GeNAS metric ``angle``; ``normalize``: /pi)."""

    name = "angle"
    needs_supernet = True

    def __init__(self, ctx: Any, supernet: Any, *, normalize: bool = False) -> None:
        super().__init__(ctx.space)
        self.supernet, self.normalize = supernet.supernet, bool(normalize)
        self.initial = copy.deepcopy(self.supernet)
        self.initial.load_state_dict(supernet.init_state)
        path_vector(self.supernet, ctx.space.sample(np.random.default_rng(0)))  # unsupported supernet: fail now

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "normalize": self.normalize}

    def angle(self, arch: Arch) -> float:
        """The raw angle in radians."""
        return angle(path_vector(self.initial, arch), path_vector(self.supernet, arch))

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        return [self.angle(a) / (math.pi if self.normalize else 1.0) for a in archs]
