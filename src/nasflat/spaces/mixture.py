"""What a supernet's relaxed forward consumes: per-edge op weights and how each edge applies them.

Every relaxation (softmax, partial channels, Gumbel hard sampling, Dirichlet) produces a :class:`Mixture`; each
space's supernet implements the same meaning for its fields, so no relaxation knows a space.
docs/methods.md#the-differentiable-harness
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Mixture:
    """Per cell type (the keys of ``space.weight_shapes()``):

    - ``weights``: (E, K) op weights; edge e outputs ``sum_k weights[e, k] * op_k(x)``.
    - ``index``: (E,) long, hard single path (GDAS): edge e outputs ``weights[e, i] * op_i(x) + sum_{k != i}
      weights[e, k]`` with ``i = index[e]``; only op i runs (the other terms carry the straight-through gradient,
      as AutoDL's GDAS cell does).
    - ``edge_weights``: (E,) scalars multiplying each edge's output before the node sum (PC-DARTS's edge
      normalization); None = 1.
    - ``aux_skip``: weight of DARTS-'s auxiliary skip on every edge (needs a supernet built with ``aux_skip=True``).

    Partial channels (PC-DARTS) are a *build* option of the supernet (``partial_channels=K``: the ops see 1/K of
    the channels), since they change the modules' shapes; the mixture is the same.
    """

    weights: Mapping[str, torch.Tensor]
    index: Mapping[str, torch.Tensor] | None = None
    edge_weights: Mapping[str, torch.Tensor] | None = None
    aux_skip: float = 0.0

    @classmethod
    def of(cls, choice: Mixture | Mapping[str, torch.Tensor]) -> Mixture:
        """A plain ``{cell: (E, K) weights}`` mapping is the softmax-style mixture."""
        return choice if isinstance(choice, Mixture) else cls(weights=choice)
