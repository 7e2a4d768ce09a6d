"""DrNAS's progressive learning, an option of the differentiable harness (docs/methods.md#drnas).

The search runs in stages. Stage i lasts ``epochs[i]`` epochs on a supernet whose mixed edges see C/``ks[i]``
channels and keep ``num_keeps[i]`` candidate ops. Entering a stage: per edge the top-``num_keeps`` ops by α stay
(the others' α is set to 0 and they are masked: weight exactly 0 in every mixture, the kept weights renormalised,
as DrNAS's ``process_step_matrix``), then the supernet widens its ops to the new ratio (Net2Wider,
``spaces/widen.py``) and the weight SGD is recreated with its momentum buffers grown the same way. The cosine lr
runs over all stages; the α warm-up restarts in each stage. Derivation reads the masked distribution.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nasflat.algorithms.differentiable.relaxations.base import AdjustedRelaxation, Relaxation
from nasflat.rng import Purpose
from nasflat.spaces.widen import Recipe, grow

KEY = "algo.progressive"


def _ints(name: str, values: Sequence[int], minimum: int) -> tuple[int, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{KEY}.{name}={values!r}: expected a non-empty list of integers, one per stage")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
        raise ValueError(f"{KEY}.{name}={list(values)}: every entry must be an integer >= {minimum}")
    return tuple(values)


def masked(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked entries set to exactly 0, each row rescaled to its former total (1 for a distribution: DrNAS's
    renormalisation; a PC-DARTS edge-scaled row keeps its edge weight)."""
    kept = weights * mask
    total, left = weights.sum(-1, keepdim=True), kept.sum(-1, keepdim=True)
    return kept * (total / left.clamp_min(torch.finfo(left.dtype).tiny))


class Progressive:
    """Stages of (epochs, partial-channel ratio K, ops kept per edge); the harness calls :meth:`enter` at the start of
    every search epoch. ``epochs`` must sum to the search epochs; ``ks[0]`` is the relaxation's own ratio."""

    def __init__(self, epochs: Sequence[int], ks: Sequence[int], num_keeps: Sequence[int]) -> None:
        self.epochs = _ints("epochs", epochs, 1)
        self.ks = _ints("ks", ks, 1)
        self.num_keeps = _ints("num_keeps", num_keeps, 1)
        for name, values in (("ks", self.ks), ("num_keeps", self.num_keeps)):
            if len(values) != len(self.epochs):
                raise ValueError(
                    f"{KEY}.{name}={list(values)}: one entry per stage needed ({len(self.epochs)} in {KEY}.epochs)"
                )
            if any(b > a for a, b in itertools.pairwise(values)):
                raise ValueError(f"{KEY}.{name}={list(values)}: must not increase from stage to stage")
        self.starts = tuple(itertools.accumulate(self.epochs, initial=0))[:-1]
        self.stage = 0
        self.cells: tuple[str, ...] = ()  # the op-logit keys (set by attach; PC-DARTS's edge β is never pruned)
        self.masks: dict[str, torch.Tensor] | None = None  # per cell type, (E, K) True = kept; None = all kept

    def stage_of(self, step: int) -> int:
        return max(i for i, s in enumerate(self.starts) if s <= step)

    def stage_epoch(self, step: int) -> int:
        """The epoch within its stage: the α warm-up counts from each stage's start (DrNAS's ``train(..., e)``)."""
        return step - self.starts[self.stage_of(step)]

    # ---- wiring ----------------------------------------------------------------------------------------------------
    def attach(self, search: Any) -> None:
        """Check the stages against the run (before any training) and put the mask in force on the relaxation."""
        relaxation, model = search.relaxation, search.model
        if sum(self.epochs) != search.epochs:
            raise ValueError(
                f"{KEY}.epochs={list(self.epochs)} sum to {sum(self.epochs)}, not algo.epochs={search.epochs}"
            )
        if relaxation.single_path:
            raise ValueError(f"{KEY}: {relaxation.name} runs one sampled op per edge; pruning renormalises op weights")
        if relaxation.partial_channels != self.ks[0]:
            raise ValueError(
                f"{KEY}.ks[0]={self.ks[0]} must equal algo.relaxation.partial_channels={relaxation.partial_channels} "
                "(the ratio the supernet is built with)"
            )
        width = getattr(model, "C", None)
        if not callable(getattr(model, "widen", None)) or width is None:
            raise ValueError(f"{KEY}: the {type(model).__name__} supernet cannot widen its ops")
        bad = [k for k in self.ks if width % k]
        if bad:
            raise ValueError(f"{KEY}.ks={list(self.ks)}: {bad} do not divide the supernet width C={width}")
        ops = {relaxation.arch_shapes()[c][-1] for c in relaxation.cells}
        if ops != {self.num_keeps[0]}:
            raise ValueError(
                f"{KEY}.num_keeps={list(self.num_keeps)}: the first stage keeps every op, and the edges have "
                f"{sorted(ops)} (DrNAS's DARTS-space stages need its 7 ops: space.op_set=darts7)"
            )
        self.cells = relaxation.cells
        search.relaxation = PrunedRelaxation(relaxation, self)

    def enter(self, step: int, search: Any) -> None:
        """Move to ``step``'s stage: prune, widen, recreate the weight SGD (once per stage boundary)."""
        while self.stage < self.stage_of(step):
            self.stage += 1
            self.prune(search.alphas, self.num_keeps[self.stage])
            self._widen(search, carry=True)

    # ---- the two operations ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def prune(self, alphas: Mapping[str, torch.Tensor], keep: int) -> None:
        """Per edge, the ``keep`` largest α among the kept ops stay (values unchanged); the rest get α = 0 and are
        masked (DrNAS's ``prune``)."""
        masks = {}
        for c in self.cells or tuple(alphas):
            a = alphas[c]
            scores = a if self.masks is None else a.masked_fill(~self.masks[c], float("-inf"))
            mask = torch.zeros_like(a, dtype=torch.bool).scatter_(-1, scores.topk(keep, dim=-1).indices, True)
            a.mul_(mask)
            masks[c] = mask
        self.masks = masks

    def _widen(self, search: Any, *, carry: bool) -> None:
        """The supernet's ops for the stage's ratio; a new weight SGD over the new parameters, its momentum buffers
        carried (grown like their parameters; DrNAS's ``configure_optimizer``) when ``carry``."""
        k = self.ks[self.stage]
        if k == search.model.partial_channels:
            return
        old = {n: search.w_opt.state.get(p, {}) for n, p in search.model.named_parameters()}
        g = torch.Generator().manual_seed(search.ctx.stream(Purpose.ARCH_NOISE, "progressive_widen", self.stage))
        recipes: dict[nn.Parameter, Recipe] = search.model.widen(k, g)
        search.w_opt = search.optim.make(search.model.parameters())
        if not carry:
            return
        for n, p in search.model.named_parameters():
            recipe = recipes.get(p, ())
            search.w_opt.state[p] = {
                key: grow(v, recipe) if isinstance(v, torch.Tensor) and recipe else v for key, v in old[n].items()
            }

    # ---- checkpoint --------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        masks = None if self.masks is None else {c: m.cpu() for c, m in self.masks.items()}
        return {"stage": self.stage, "masks": masks}

    def load_state_dict(self, state: Mapping[str, Any], search: Any) -> None:
        """Rebuild the saved stage's shapes (the caller then loads the supernet and SGD states) and its mask."""
        if int(state["stage"]) > self.stage:
            self.stage = int(state["stage"])
            self._widen(search, carry=False)
        masks = state["masks"]
        self.masks = None if masks is None else {c: m.to(search.alphas[c].device) for c, m in masks.items()}

    def describe(self) -> dict[str, Any]:
        return {"epochs": list(self.epochs), "ks": list(self.ks), "num_keeps": list(self.num_keeps)}


class PrunedRelaxation(AdjustedRelaxation):
    """The run's relaxation with the current stage's mask applied to every mixture, op distribution and derivation."""

    def __init__(self, base: Relaxation, progressive: Progressive) -> None:
        super().__init__(base)
        self.progressive = progressive

    def adjust(self, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        masks = self.progressive.masks
        if masks is None:
            return dict(weights)
        return {c: masked(w, masks[c]) if c in masks else w for c, w in weights.items()}

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), "progressive": self.progressive.describe(), "stage": self.progressive.stage}
