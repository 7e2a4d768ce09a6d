"""PC-DARTS's relaxation: partial channel connections plus edge normalization (docs/methods.md#pc-darts).

The ops of every mixed edge see 1/K of the channels (a supernet build option, see :meth:`supernet_options`); the
op weights are DARTS's softmax. Edge normalization adds one logit β per edge and cell type, normalised by a softmax
over the edges that enter the same node; each edge's output is scaled by its normalised β, and derivation ranks
``softmax(α) * softmax_node(β)`` so the edge choice reflects β (PC-DARTS's genotype rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from nasflat.algorithms.differentiable.relaxations.base import Alphas, ProbsTransform, Relaxation
from nasflat.spaces.mixture import Mixture

EDGE_SUFFIX = "_edges"


def edge_softmax(betas: torch.Tensor, incoming: Sequence[Sequence[int]]) -> torch.Tensor:
    """(E,) edge logits -> (E,) weights: a softmax over each node's incoming edges (one edge in: weight 1)."""
    order = [e for node in incoming for e in node]
    if sorted(order) != list(range(betas.shape[-1])):
        raise ValueError(
            f"incoming edges {incoming} must name each of the {betas.shape[-1]} edges exactly once; "
            "check space.incoming_edges()"
        )
    grouped = torch.cat([betas[..., list(node)].softmax(dim=-1) for node in incoming], dim=-1)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return grouped[..., inverse.to(betas.device)]


class PartialChannel(Relaxation):
    """Softmax op weights on 1/K of the channels, with optional per-node softmax edge weights β."""

    name = "partial_channel"

    def __init__(self, partial_channels: int = 4, edge_normalization: bool = True) -> None:
        if isinstance(partial_channels, bool) or not isinstance(partial_channels, int) or partial_channels < 1:
            raise ValueError(
                f"relaxation.partial_channels={partial_channels!r}: expected an integer >= 1 "
                "(PC-DARTS uses 4; 1 turns partial channels off)"
            )
        self.partial_channels = partial_channels
        self.edge_normalization = bool(edge_normalization)
        self.incoming: dict[str, tuple[tuple[int, ...], ...]] = {}

    def bind(self, space: Any) -> PartialChannel:
        super().bind(space)
        if self.edge_normalization:
            self.incoming = {c: tuple(map(tuple, nodes)) for c, nodes in space.incoming_edges().items()}
            clash = [c + EDGE_SUFFIX for c in self.cells if c + EDGE_SUFFIX in self.cells]
            if clash:
                raise ValueError(f"edge-logit names {clash} collide with the space's cell types {self.cells}")
        return self

    def arch_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().arch_shapes()
        if self.edge_normalization:
            shapes.update({c + EDGE_SUFFIX: (shapes[c][0],) for c in self.cells})
        return shapes

    def probs(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        return {c: alphas[c].softmax(dim=-1) for c in self.cells}

    def edge_weights(self, alphas: Alphas) -> dict[str, torch.Tensor] | None:
        """Per cell type, the (E,) normalised edge weights; None without edge normalization."""
        if not self.edge_normalization:
            return None
        return {c: edge_softmax(alphas[c + EDGE_SUFFIX], self.incoming[c]) for c in self.cells}

    def mixture(
        self, alphas: Alphas, *, transform: ProbsTransform | None = None, generator: torch.Generator | None = None
    ) -> Mixture:
        probs = self.probs(alphas)
        weights = {c: transform(p) if transform else p for c, p in probs.items()}
        return Mixture(weights=weights, edge_weights=self.edge_weights(alphas))

    def derive_weights(self, alphas: Alphas) -> dict[str, torch.Tensor]:
        probs = {c: p.detach() for c, p in self.probs(alphas).items()}
        edges = self.edge_weights(alphas)
        if edges is None:
            return probs
        return {c: p * edges[c].detach().unsqueeze(-1) for c, p in probs.items()}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "partial_channels": self.partial_channels,
            "edge_normalization": self.edge_normalization,
        }
