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

Each supernet builds its own vector (``supernet.path_parameters(arch)``); this module only compares them.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from nasflat.evaluators.base import Evaluator
from nasflat.spaces.base import Arch


def path_vector(model: nn.Module, arch: Any) -> torch.Tensor:
    """ABS's weight vector of ``arch``'s path in ``model``: the pieces its ``path_parameters`` names."""
    path_parameters = getattr(model, "path_parameters", None)
    if path_parameters is None:
        raise TypeError(f"the angle metric needs a supernet with path_parameters(arch); got {type(model).__name__}")
    return torch.cat(path_parameters(arch))


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
