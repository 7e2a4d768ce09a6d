"""The contract every search space implements; algorithms and evaluators use nothing else.

An architecture is an immutable, hashable value in the format researchers already paste (an NB201 arch string,
a DARTS ``Genotype(...)``). A space builds one supernet whose ``forward(x, choice)`` takes either per-edge op
weights (a dict of ``E x K`` tensors -> differentiable mixture) or an architecture value (only that path runs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

Arch = Hashable
Weights = Mapping[str, torch.Tensor]


class ArchFormatError(ValueError):
    """A malformed architecture string or value; the message names the bad token and the valid choices."""


class SearchSpace(ABC):
    """Sample / mutate / neighbors / encode / build: the seam between algorithms and a cell space."""

    name: str
    ops: tuple[str, ...]

    # ---- architecture values -------------------------------------------------------------------------------
    @abstractmethod
    def parse(self, text: str) -> Arch:
        """Parse the space's canonical text form (raises ArchFormatError naming the bad token)."""

    @abstractmethod
    def format(self, arch: Arch) -> str:
        """The text form researchers paste; ``parse(format(a)) == a``."""

    @abstractmethod
    def validate(self, arch: Any) -> Arch:
        """Return ``arch`` as this space's architecture value or raise ArchFormatError."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random architecture (the space's sampling rule, e.g. SPOS repair for DARTS)."""

    @abstractmethod
    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """A uniformly random 1-hop neighbor."""

    @abstractmethod
    def neighbors(self, arch: Arch, radius: int = 1) -> list[Arch]:
        """All architectures at exactly ``radius`` hops, in a deterministic order."""

    def neighborhood(self, arch: Arch, radius: int = 1) -> list[Arch]:
        """All architectures within ``radius`` hops (excluding ``arch``), nearest first."""
        seen: dict[Arch, None] = {}
        for r in range(1, radius + 1):
            for a in self.neighbors(arch, r):
                seen.setdefault(a, None)
        return list(seen)

    def canonical(self, arch: Arch) -> Hashable:
        """A key shared by functionally identical architectures (default: the architecture itself)."""
        return arch

    def encode(self, arch: Arch) -> list[int]:
        """A flat integer encoding (op indices) used by evolution and for logging."""
        raise ArchFormatError(f"space {self.name!r} has no integer encoding")

    # ---- continuous relaxation ---------------------------------------------------------------------------------
    @abstractmethod
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        """Shapes of the per-edge op weights the supernet accepts, e.g. ``{"cell": (6, 5)}``."""

    @abstractmethod
    def derive(self, weights: Weights, **options: Any) -> Arch:
        """Discretize per-edge weights (softmax(alpha)) into an architecture by the space's rule."""

    def one_hot(self, arch: Arch) -> dict[str, torch.Tensor]:
        """Per-edge weights that select exactly ``arch`` (used to check supernet equivalence)."""
        raise ArchFormatError(f"space {self.name!r} cannot express an architecture as one-hot weights")

    def param_free_ops(self, arch: Arch) -> int:
        """How many chosen ops carry no parameters (the DARTS-collapse symptom)."""
        return 0

    # ---- networks -----------------------------------------------------------------------------------------
    @abstractmethod
    def supernet(self, num_classes: int, **options: Any) -> nn.Module:
        """One weight-sharing network: ``forward(x, weights_or_arch) -> logits``."""

    @abstractmethod
    def network(self, arch: Arch, num_classes: int, **options: Any) -> nn.Module:
        """The standalone network trained from scratch (``forward(x) -> logits`` or ``(logits, aux_logits)``)."""

    @abstractmethod
    def describe(self, arch: Arch) -> dict[str, Any]:
        """A JSON-ready cell summary for ``nasflat info``."""


def unique(archs: Iterable[Arch], key: Any = None) -> list[Arch]:
    """Order-preserving de-duplication (by ``key(arch)`` when given)."""
    seen: dict[Hashable, Arch] = {}
    for a in archs:
        seen.setdefault(key(a) if key else a, a)
    return list(seen.values())
