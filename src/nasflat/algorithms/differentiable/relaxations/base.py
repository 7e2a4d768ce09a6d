"""The relaxation contract (docs/methods.md#the-differentiable-harness).

A relaxation owns the meaning of the architecture parameters: their shapes (op logits per cell type from the
space, plus any extras such as PC-DARTS's edge β), their initialisation, the differentiable mixture the supernet
runs, the op distribution that derivation, logging and curvature tracking read, an optional α-only regularizer
and its schedules (GDAS's τ). It never tests which space it runs on: it reads ``space.weight_shapes()`` and
``space.incoming_edges()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch

from nasflat.spaces.mixture import Mixture

Alphas = Mapping[str, torch.Tensor]
# maps the per-edge op distribution p (E, K) to another one, e.g. NA-DARTS's expected-neighbour marginal
ProbsTransform = Callable[[torch.Tensor], torch.Tensor]


class Relaxation(ABC):
    """Raw architecture parameters -> :class:`Mixture`; stateless apart from the epoch-driven schedules."""

    name: str = ""
    stochastic: bool = False  # draws a sample per forward (Gumbel, Dirichlet): needs a generator
    single_path: bool = False  # the mixture runs one sampled op per edge (GDAS's hard sample; Mixture.index)
    partial_channels: int = 1  # supernet build option: ops see 1/K of the channels (PC-DARTS)

    cells: tuple[str, ...] = ()  # the op-logit keys (the space's cell types), set by bind()

    def bind(self, space: Any) -> Relaxation:
        """Read what this relaxation needs from the space (once, before any other call); returns self."""
        self.cells = tuple(space.weight_shapes())
        self.space = space
        return self

    def arch_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of every architecture parameter: the (E, K) op logits per cell type, then any extras."""
        return dict(self.space.weight_shapes())

    def init(self, shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        """DARTS's initialisation, 1e-3 * N(0, 1), drawn on the CPU so every device starts from the same α."""
        return 1e-3 * torch.randn(shape, generator=generator, dtype=dtype)

    def supernet_options(self) -> dict[str, Any]:
        """Build options the supernet needs for this relaxation (e.g. ``partial_channels``)."""
        return {"partial_channels": self.partial_channels} if self.partial_channels > 1 else {}

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Per-epoch schedules (GDAS's τ); none by default."""
        return None

    def schedules(self) -> dict[str, float]:
        """Current schedule values, logged per epoch."""
        return {}

    @abstractmethod
    def probs(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        """The (E, K) op distribution per cell type: what derivation, entropy and logging read."""

    @abstractmethod
    def mixture(
        self,
        alphas: Alphas,
        *,
        transform: ProbsTransform | None = None,
        generator: torch.Generator | None = None,
    ) -> Mixture:
        """The differentiable mixture at ``alphas`` (one sample when stochastic, from ``generator``)."""

    def derive_weights(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        """What ``space.derive`` ranks: the op distribution (PC-DARTS scales it by the edge weights)."""
        return {n: p.detach() for n, p in self.probs(alphas).items()}

    def penalty(self, alphas: Alphas) -> torch.Tensor | None:
        """An α-only regularizer added to the α objective (DrNAS); None when there is none."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


class AdjustedRelaxation(Relaxation):
    """Another relaxation with an adjustment in force on its mixtures, op distributions and derivation weights.

    Everything else (shapes, initialisation, build options, schedules, penalty) is the wrapped relaxation's. Used by
    rules that fix or remove ops during a run (DARTS-PT's projection, DrNAS's pruning).
    """

    def __init__(self, base: Relaxation) -> None:
        self.base = base
        self.name, self.stochastic, self.partial_channels = base.name, base.stochastic, base.partial_channels
        self.single_path, self.cells = base.single_path, base.cells
        if hasattr(base, "space"):
            self.space = base.space

    def adjust(self, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The adjustment on (E, K) op weights or distributions; the identity here."""
        return dict(weights)

    def adjust_mixture(self, mixture: Mixture) -> Mixture:
        """The adjustment on a whole mixture (default: on its weights)."""
        return replace(mixture, weights=self.adjust(mixture.weights))

    def bind(self, space: Any) -> Relaxation:
        self.base.bind(space)
        self.cells, self.space = self.base.cells, space
        return self

    def arch_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.base.arch_shapes()

    def init(self, shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
        return self.base.init(shape, generator, dtype)

    def supernet_options(self) -> dict[str, Any]:
        return self.base.supernet_options()

    def set_epoch(self, epoch: int, epochs: int) -> None:
        self.base.set_epoch(epoch, epochs)

    def schedules(self) -> dict[str, float]:
        return self.base.schedules()

    def probs(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        return self.adjust(self.base.probs(alphas))

    def mixture(
        self, alphas: Alphas, *, transform: ProbsTransform | None = None, generator: torch.Generator | None = None
    ) -> Mixture:
        return self.adjust_mixture(self.base.mixture(alphas, transform=transform, generator=generator))

    def derive_weights(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        return self.adjust(self.base.derive_weights(alphas))

    def penalty(self, alphas: Alphas) -> torch.Tensor | None:
        return self.base.penalty(alphas)

    def describe(self) -> dict[str, Any]:
        return self.base.describe()
