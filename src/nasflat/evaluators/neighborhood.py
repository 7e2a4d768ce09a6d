"""Neighborhood-aware scoring (NA-NAS, Wang et al. 2021; docs/methods.md#na-rs): a candidate's score aggregates any
evaluator over the candidate's neighborhood, a* = argmax_a agg{ s(a') : a' in N(a) }.

No official code exists, so every choice is an option (defaults in brackets):
- N(a): all architectures within ``radius`` hops [1] (``space.neighborhood``: NB201 = Hamming distance on the 6 edge
  ops, 24 at radius 1; DARTS = one op change or one input move of a kept edge, 120 at radius 1), or ``neighbors``
  = K of them drawn without replacement [all]; the draw is a function of (seed, arch), so a candidate always has
  the same neighbors (cacheable, resumable, the same on every rank);
- the centre a itself included [yes];
- agg = mean | median | min [mean] (min: the worst neighbor, a pessimistic flatness);
- ``dedup``: drop neighbors functionally identical to the centre or to an earlier neighbor (``space.canonical``:
  NB201's isomorphism key, e.g. edges cut off by ``none``) [off, as A²M and R-EA].

The inner evaluator keeps its own cache and count: ``evaluations`` counts candidates scored, ``total_evaluations``
the architectures the inner evaluator actually scored, which is the honest budget when neighbors cost training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from nasflat.evaluators.base import Evaluator
from nasflat.rng import Purpose, stream_seed
from nasflat.spaces.base import Arch, SearchSpace

AGGREGATES = {"mean": np.mean, "median": np.median, "min": np.min}


@dataclass(frozen=True)
class Neighborhood:
    """How a candidate's neighborhood is formed and aggregated (see the module docstring)."""

    radius: int = 1
    neighbors: int | None = None
    include_center: bool = True
    agg: Literal["mean", "median", "min"] = "mean"
    dedup: bool = False

    def __post_init__(self) -> None:
        if self.radius < 1:
            raise ValueError(f"neighborhood.radius must be >= 1, got {self.radius}")
        if self.neighbors is not None and self.neighbors < 0:
            raise ValueError(f"neighborhood.neighbors must be >= 0 or null (all), got {self.neighbors}")
        if self.agg not in AGGREGATES:
            raise ValueError(f"neighborhood.agg={self.agg!r}: expected one of {', '.join(AGGREGATES)}")
        if not self.include_center and self.neighbors == 0:
            raise ValueError("neighborhood with neighbors=0 and include_center=false would score nothing")

    def wrap(self, inner: Evaluator, seed: int) -> NeighborhoodEvaluator:
        return NeighborhoodEvaluator(inner, self, seed=seed)


class NeighborhoodEvaluator(Evaluator):
    """Score = ``agg`` of ``inner``'s scores over the candidate's neighborhood (one batched inner call per batch)."""

    def __init__(self, inner: Evaluator, spec: Neighborhood, *, seed: int = 0) -> None:
        super().__init__(inner.space)
        self.inner, self.spec, self.seed = inner, spec, seed
        self.name = f"na_{inner.name}"
        self.needs_supernet = inner.needs_supernet

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "neighborhood": asdict(self.spec), "inner": self.inner.describe()}

    @property
    def total_evaluations(self) -> int:
        return self.inner.total_evaluations

    def members(self, arch: Arch) -> list[Arch]:
        """The architectures whose inner scores are aggregated for ``arch`` (centre first when included)."""
        space: SearchSpace = self.space
        near = space.neighborhood(arch, self.spec.radius)
        if self.spec.dedup:
            seen = {space.canonical(arch)}
            kept = []
            for a in near:
                key = space.canonical(a)
                if key not in seen:
                    seen.add(key)
                    kept.append(a)
            near = kept
        k = self.spec.neighbors
        if k is not None and k < len(near):
            rng = np.random.default_rng(stream_seed(self.seed, Purpose.NEIGHBOR_DRAW, space.format(arch)))
            pick = rng.choice(len(near), size=k, replace=False)
            near = [near[i] for i in sorted(pick.tolist())]
        return ([arch] if self.spec.include_center else []) + near

    def requirements(self, arch: Arch) -> list[Arch]:
        if arch in self.cache:
            return []
        return [r for m in self.members(arch) for r in self.inner.requirements(m)]

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        groups = [self.members(a) for a in archs]
        flat = list(dict.fromkeys(m for g in groups for m in g))
        scores = dict(zip(flat, self.inner.score(flat)))
        agg = AGGREGATES[self.spec.agg]
        return [float(agg([scores[m] for m in g])) if g else float("-inf") for g in groups]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.inner.load_state_dict(state["inner"])
