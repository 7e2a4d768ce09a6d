"""DARTS-PT: perturbation-based architecture selection (docs/methods.md#darts-pt).

After the search epochs the supernet itself, not α's magnitude, decides: for one undecided edge per cell type, each
op in turn is removed from the mixture (its weight zeroed, the rest unchanged) and the supernet is evaluated on the
α split; the edge is fixed to the op whose removal hurts most (lowest accuracy, or highest loss). The supernet is
then tuned for ``proj_intv`` epochs before the next decision. Once every edge has its op, the nodes that keep only
``topology_inputs`` of their incoming edges (``space.incoming_edges()``) choose them the same way: the incoming
edge whose removal hurts least is dropped until ``topology_inputs`` remain. Nothing here knows a space: the edges,
nodes and cell types come from the space, the number of inputs a node keeps from the config.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F

from nasflat.algorithms.differentiable.relaxations.base import AdjustedRelaxation, Alphas, Relaxation
from nasflat.algorithms.differentiable.selection import Selection
from nasflat.rng import Purpose
from nasflat.spaces.base import Arch
from nasflat.spaces.mixture import Mixture

Crit = Literal["acc", "loss"]
EdgeOrder = Literal["random", "in_order"]
# evaluates the supernet on the α split with the given mixture: (accuracy, loss)
Evaluate = Callable[[Mixture], tuple[float, float]]
CRITS = ("acc", "loss")
EDGE_ORDERS = ("random", "in_order")


def schedule(rounds: int, proj_intv: int, tail_epochs: int) -> list[int]:
    """The tuning epochs at whose start a round of decisions is taken; the run tunes ``last + 1`` epochs in all.

    darts-pt: ``tune_epochs = proj_intv * (rounds - 1) + tail`` (NB201 tail 0, DARTS space 1), a round every
    ``proj_intv`` epochs and the last one at ``tune_epochs - 1``. The last round always gets its own epoch (the
    official NB201 schedule would skip it when ``proj_intv == 1``).
    """
    if rounds < 1:
        raise ValueError(f"DARTS-PT needs at least one decision, got {rounds} rounds")
    if proj_intv < 1 or tail_epochs < 0:
        raise ValueError(
            f"selection.proj_intv={proj_intv}, selection.tail_epochs={tail_epochs}: need proj_intv >= 1 and "
            "tail_epochs >= 0 (darts-pt: proj_intv 5, tail 0 on NB201 and 1 on the DARTS space)"
        )
    epochs = [r * proj_intv for r in range(rounds - 1)]
    last = proj_intv * (rounds - 1) + tail_epochs - 1
    return [*epochs, max(last, epochs[-1] + 1 if epochs else 0)]


def pick(scores: Sequence[float], crit: Crit, worst: bool) -> int:
    """Index of the first score that hurts most (``worst``) or the last one that hurts least, as darts-pt compares."""
    bad = [(-s if crit == "acc" else s) for s in scores]  # larger = removal hurts more
    if worst:
        return max(range(len(bad)), key=lambda i: (bad[i], -i))
    return min(range(len(bad)), key=lambda i: (bad[i], -i))


@dataclass
class Projection:
    """The decisions so far, per cell type: the op fixed on each edge (-1: open) and the edges a node dropped."""

    ops: dict[str, list[int]]
    dropped: dict[str, list[bool]]
    nodes_done: dict[str, list[bool]]
    incoming: dict[str, tuple[tuple[int, ...], ...]] = field(default_factory=dict)

    @classmethod
    def empty(cls, shapes: Mapping[str, Sequence[int]], incoming: Mapping[str, Sequence[Sequence[int]]]) -> Projection:
        inc = {c: tuple(tuple(n) for n in incoming[c]) for c in shapes}
        return cls(
            ops={c: [-1] * int(shape[0]) for c, shape in shapes.items()},
            dropped={c: [False] * int(shape[0]) for c, shape in shapes.items()},
            nodes_done={c: [False] * len(inc[c]) for c in shapes},
            incoming=inc,
        )

    def open_edges(self, cell: str) -> list[int]:
        return [e for e, k in enumerate(self.ops[cell]) if k < 0]

    def open_nodes(self, cell: str, keep: int | None) -> list[int]:
        """Nodes whose inputs are still to choose: more incoming edges than ``keep`` (None: nodes keep all)."""
        if keep is None:
            return []
        return [n for n, edges in enumerate(self.incoming[cell]) if len(edges) > keep and not self.nodes_done[cell][n]]

    def apply(self, mixture: Mixture) -> Mixture:
        """The mixture with every decision in force: decided edges one-hot on their op, dropped edges off."""
        weights, index = dict(mixture.weights), dict(mixture.index) if mixture.index is not None else None
        edge_weights = dict(mixture.edge_weights) if mixture.edge_weights is not None else None
        for cell, ops in self.ops.items():
            decided = [(e, k) for e, k in enumerate(ops) if k >= 0]
            dropped = [e for e, d in enumerate(self.dropped[cell]) if d]
            if not decided and not dropped:
                continue
            w = weights[cell].clone()
            for e, k in decided:
                w[e] = 0.0
                w[e, k] = 1.0
            weights[cell] = w
            if index is not None:
                idx = index[cell].clone()
                for e, k in decided:
                    idx[e] = k
                index[cell] = idx
            if dropped:
                edge_weights = _without_edges(edge_weights, weights, cell, dropped)
        return replace(mixture, weights=weights, index=index, edge_weights=edge_weights)

    def derive_weights(self, probs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What ``space.derive`` ranks at the end: decided edges one-hot, dropped edges all zero."""
        out = dict(self.apply(Mixture(weights={c: p.detach() for c, p in probs.items()})).weights)
        for cell, flags in self.dropped.items():
            for e, d in enumerate(flags):
                if d:
                    out[cell][e] = 0.0
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"ops": self.ops, "dropped": self.dropped, "nodes_done": self.nodes_done}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.ops = {c: [int(k) for k in v] for c, v in state["ops"].items()}
        self.dropped = {c: [bool(d) for d in v] for c, v in state["dropped"].items()}
        self.nodes_done = {c: [bool(d) for d in v] for c, v in state["nodes_done"].items()}


def _without_edges(
    edge_weights: dict[str, torch.Tensor] | None, weights: Mapping[str, torch.Tensor], cell: str, edges: Sequence[int]
) -> dict[str, torch.Tensor]:
    """Edge weights with ``edges`` of ``cell`` set to 0: the whole edge output is removed (with partial channels
    too, whose bypassed channels zeroing the op weights would leave in place)."""
    out = dict(edge_weights) if edge_weights is not None else {}
    for c, w in weights.items():
        if c not in out:
            out[c] = torch.ones(w.shape[0], dtype=w.dtype, device=w.device)
    ew = out[cell].clone()
    ew[list(edges)] = 0.0
    out[cell] = ew
    return out


def without_op(mixture: Mixture, cell: str, edge: int, op: int) -> Mixture:
    """The mixture with op ``op`` of ``edge`` removed: its weight zeroed, the others unchanged (no renormalisation)."""
    w = mixture.weights[cell].clone()
    w[edge, op] = 0.0
    return replace(mixture, weights={**mixture.weights, cell: w})


def without_edge(mixture: Mixture, cell: str, edge: int) -> Mixture:
    return replace(mixture, edge_weights=_without_edges(mixture.edge_weights, mixture.weights, cell, [edge]))


def choose_op(evaluate: Evaluate, mixture: Mixture, cell: str, edge: int, crit: Crit) -> tuple[int, list[float]]:
    """The op of ``edge`` whose removal hurts the supernet most, and every op's score."""
    scores = []
    for op in range(mixture.weights[cell].shape[1]):
        acc, loss = evaluate(without_op(mixture, cell, edge, op))
        scores.append(acc if crit == "acc" else loss)
    return pick(scores, crit, worst=True), scores


def choose_inputs(
    evaluate: Evaluate, mixture: Mixture, cell: str, edges: Sequence[int], keep: int, crit: Crit
) -> tuple[list[int], list[list[float]]]:
    """darts-pt's topology step: while more than ``keep`` edges remain, evaluate the supernet without each remaining
    edge (one at a time, the others present) and drop the one whose removal hurts least."""
    remaining, rounds = list(edges), []
    while len(remaining) > keep:
        scores = []
        for e in remaining:
            acc, loss = evaluate(without_edge(mixture, cell, e))
            scores.append(acc if crit == "acc" else loss)
        rounds.append(scores)
        remaining.pop(pick(scores, crit, worst=False))
    return remaining, rounds


class ProjectedRelaxation(AdjustedRelaxation):
    """The search's relaxation with DARTS-PT's decisions in force on every mixture, op distribution and derivation
    (the α step, the weight step and the measurements of the tuning epochs all see the projected supernet)."""

    def __init__(self, base: Relaxation, projection: Projection) -> None:
        super().__init__(base)
        self.projection = projection

    def adjust(self, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.projection.derive_weights(weights)

    def adjust_mixture(self, mixture: Mixture) -> Mixture:
        return self.projection.apply(mixture)

    def measured(self, alphas: Alphas) -> Mixture:
        """The deterministic mixture DARTS-PT perturbs: the relaxation's own, or its op distribution when it samples."""
        base = Mixture(weights=self.base.probs(alphas)) if self.base.stochastic else self.base.mixture(alphas)
        return self.projection.apply(base)

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), "projected": "darts_pt"}


class DartsPT(Selection):
    """DARTS-PT as a selection rule: after the search epochs, ``extra_steps`` tuning epochs with a round of
    decisions at the epochs of :func:`schedule` (docs/methods.md#darts-pt).

    ``crit``: ``acc`` (darts-pt's scripts) or ``loss``; ``edge_order``: ``random`` (darts-pt, drawn from a named
    stream) or ``in_order``; ``topology_inputs``: how many incoming edges a node keeps (DARTS space 2, NB201 null =
    all: no topology step); ``tail_epochs``: darts-pt's schedule tail (NB201 0, DARTS space 1); ``tune_lr_scale``:
    the tuning SGD's constant lr as a fraction of the search's initial lr (darts-pt: 1/10); ``tune_alpha``: α keeps
    its Adam steps while tuning (darts-pt's ``darts-proj``; false = its fixed-α ``blank-proj``); ``eval_images``:
    α-split images per perturbed evaluation (null: all, as darts-pt); ``per_space``: darts-pt's per-space values
    that the config interpolates (read by the config only).
    """

    name = "darts_pt"

    def __init__(
        self,
        proj_intv: int = 5,
        crit: Crit = "acc",
        edge_order: EdgeOrder = "random",
        topology_inputs: int | None = None,
        tail_epochs: int = 0,
        tune_lr_scale: float = 0.1,
        tune_alpha: bool = True,
        eval_images: int | None = None,
        per_space: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        _check_settings(crit, edge_order, topology_inputs, tune_lr_scale, eval_images)
        schedule(1, proj_intv, tail_epochs)  # validates proj_intv and tail_epochs
        self.proj_intv, self.crit, self.edge_order = proj_intv, crit, edge_order
        self.topology_inputs, self.tail_epochs = topology_inputs, tail_epochs
        self.tune_lr_scale, self.tune_alpha, self.eval_images = tune_lr_scale, tune_alpha, eval_images
        self.projection: Projection | None = None
        self.decisions: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.tune_opt: torch.optim.SGD | None = None
        self._pending: Mapping[str, Any] = {}  # a resumed state, applied once the search is known

    # ---- plan ----------------------------------------------------------------------------------------------------
    def rounds(self, space: Any) -> tuple[int, int]:
        """(op rounds, topology rounds): one edge / one node of every cell type per round."""
        incoming = space.incoming_edges()
        shapes = space.weight_shapes()
        keep = self.topology_inputs
        topo = max(sum(1 for n in incoming[c] if keep is not None and len(n) > keep) for c in shapes)
        return max(int(s[0]) for s in shapes.values()), topo

    def round_epochs(self, space: Any) -> list[int]:
        return schedule(sum(self.rounds(space)), self.proj_intv, self.tail_epochs)

    def extra_steps(self, space: Any) -> int:
        return self.round_epochs(space)[-1] + 1

    # ---- the tuning phase ------------------------------------------------------------------------------------------
    def install(self, search: Any) -> ProjectedRelaxation:
        """Put the decisions in force on the search (idempotent; also after a resume)."""
        if self.projection is None:
            self.projection = Projection.empty(search.space.weight_shapes(), search.space.incoming_edges())
            optim = search.optim
            self.tune_opt = torch.optim.SGD(
                search.model.parameters(),
                lr=optim.lr * self.tune_lr_scale,
                momentum=optim.momentum,
                weight_decay=optim.weight_decay,
            )
            if self._pending.get("projection") is not None:
                self.projection.load_state_dict(self._pending["projection"])
            if self._pending.get("tune_opt") is not None:
                self.tune_opt.load_state_dict(self._pending["tune_opt"])
        if not isinstance(search.relaxation, ProjectedRelaxation):
            search.relaxation = ProjectedRelaxation(search.relaxation, self.projection)
        return search.relaxation

    def run_step(self, step: int, search: Any) -> dict[str, Any]:
        """Tuning epoch ``step``: a round of decisions when it is a round epoch, then one epoch of α and w steps."""
        self.install(search)
        epochs = self.round_epochs(search.space)
        decided = []
        if step in epochs:
            decided = self.decide(epochs.index(step), search)
        stats = self.tune(step, search, epochs[-1] + 1)
        arch = search.derive()
        metrics: dict[str, Any] = {
            "darts_pt_epoch": step,
            "train_loss": stats["loss"],
            "train_acc": stats["acc"],
            **search.evaluate(),
            "arch": search.space.format(arch),
            "param_free_ops": search.space.param_free_ops(arch),
            "darts_pt_decisions": decided,
        }
        self.history.append(metrics)
        return metrics

    def decide(self, round_index: int, search: Any) -> list[dict[str, Any]]:
        """One round: an op for one open edge of each cell type, or the inputs of one open node once all ops are set;
        a cell type decides on the supernet with the previous cell types' decisions already in force (darts-pt)."""
        relax, evaluate, out = self.install(search), self._evaluator(search), []
        for cell in relax.cells:
            decision = self._decide_cell(cell, round_index, evaluate, self._measured(search, relax), search)
            if decision is not None:
                out.append({"round": round_index, "cell": cell, **decision})
        self.decisions.extend(out)
        return out

    def _decide_cell(
        self, cell: str, round_index: int, evaluate: Evaluate, mixture: Mixture, search: Any
    ) -> dict[str, Any] | None:
        proj = self.projection
        assert proj is not None
        edges = proj.open_edges(cell)
        if edges:
            edge = self._next(edges, round_index, cell, search)
            op, scores = choose_op(evaluate, mixture, cell, edge, self.crit)
            proj.ops[cell][edge] = op
            return {"edge": edge, "op": op, "scores": scores}
        nodes = proj.open_nodes(cell, self.topology_inputs)
        if not nodes or self.topology_inputs is None:
            return None
        node = self._next(nodes, round_index, cell, search)
        incoming = proj.incoming[cell][node]
        kept, scores = choose_inputs(evaluate, mixture, cell, incoming, self.topology_inputs, self.crit)
        for e in incoming:
            proj.dropped[cell][e] = e not in kept
        proj.nodes_done[cell][node] = True
        return {"node": node, "kept": kept, "scores": scores}

    def _measured(self, search: Any, relax: ProjectedRelaxation) -> Mixture:
        m = relax.measured(search.detached())
        beta = search.aux_skip()
        return replace(m, aux_skip=beta) if beta else m

    def _next(self, candidates: Sequence[int], round_index: int, cell: str, search: Any) -> int:
        """The edge (or node) decided next: darts-pt draws it uniformly among the open ones."""
        if self.edge_order == "in_order" or len(candidates) == 1:
            return candidates[0]
        g = torch.Generator().manual_seed(search.ctx.stream(Purpose.ARCH_NOISE, "darts_pt", round_index, cell))
        return candidates[int(torch.randint(len(candidates), (), generator=g))]

    def _evaluator(self, search: Any) -> Evaluate:
        """Accuracy and loss on the α split, BN in train mode as darts-pt's ``infer(..., eval=False)``, no gradient."""
        model, hw = search.model, search.ctx.hardware
        limit = math.inf if self.eval_images is None else self.eval_images

        @torch.no_grad()
        def evaluate(mixture: Mixture) -> tuple[float, float]:
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in search.eval_loader:
                if seen >= limit:
                    break
                with hw.autocast():
                    logits = model(x, mixture)
                loss_sum += float(F.cross_entropy(logits.float(), y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
                seen += int(y.numel())
            return correct / max(seen, 1), loss_sum / max(seen, 1)

        return evaluate

    def tune(self, step: int, search: Any, total: int) -> dict[str, float]:
        """One epoch of the search's own iterations (its α step, order, modifiers) on the projected supernet, the
        weight steps taken by the tuning SGD at its constant lr; α steps only when ``tune_alpha``."""
        assert self.tune_opt is not None
        lr = self.tune_opt.param_groups[0]["lr"]
        constant = replace(search.optim, lr=lr, lr_min=lr)  # lr_at() is then constant
        # an epoch index past the α warm-up turns the α steps on; -1 keeps them off
        epoch = search.warmup + step if self.tune_alpha else -1
        reporter, saved = search.ctx.reporter, (search.w_opt, search.optim)
        reporter.start_epoch(self.name, step, total, len(search.train_loader))
        search.w_opt, search.optim = self.tune_opt, constant
        try:
            stats = search.train_steps(epoch, search.train_loader, len(search.train_loader))
        finally:
            search.w_opt, search.optim = saved
        reporter.end_epoch()
        return stats

    # ---- results -------------------------------------------------------------------------------------------------
    def choose(self, record: Any) -> tuple[Arch, float]:
        """The projected architecture and the held-out accuracy after the last tuning epoch."""
        self.install(record)
        acc = self.history[-1].get("valid_acc", math.nan) if self.history else math.nan
        return record.derive(), acc

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "proj_intv": self.proj_intv,
            "crit": self.crit,
            "edge_order": self.edge_order,
            "topology_inputs": self.topology_inputs,
            "tail_epochs": self.tail_epochs,
            "tune_lr_scale": self.tune_lr_scale,
            "tune_alpha": self.tune_alpha,
            "eval_images": self.eval_images,
            "decisions": self.decisions,
            "tuning": [{k: h[k] for k in ("darts_pt_epoch", "arch", "valid_acc") if k in h} for h in self.history],
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "projection": None if self.projection is None else self.projection.state_dict(),
            "tune_opt": None if self.tune_opt is None else self.tune_opt.state_dict(),
            "decisions": self.decisions,
            "history": self.history,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Keep a resumed state until :meth:`install` meets the search (the supernet's parameters, the space)."""
        if not state:
            return
        self._pending, self.projection, self.tune_opt = dict(state), None, None
        self.decisions, self.history = list(state.get("decisions", [])), list(state.get("history", []))


def _check_settings(
    crit: str, edge_order: str, topology_inputs: int | None, tune_lr_scale: float, eval_images: int | None
) -> None:
    if crit not in CRITS:
        raise ValueError(f"selection.crit={crit!r}: choose one of {CRITS} (darts-pt's scripts use acc)")
    if edge_order not in EDGE_ORDERS:
        raise ValueError(f"selection.edge_order={edge_order!r}: choose one of {EDGE_ORDERS} (darts-pt: random)")
    if topology_inputs is not None and topology_inputs < 1:
        raise ValueError(f"selection.topology_inputs={topology_inputs}: must be >= 1, or null to keep every input")
    if tune_lr_scale < 0:
        raise ValueError(f"selection.tune_lr_scale={tune_lr_scale}: must be >= 0 (darts-pt: 0.1)")
    if eval_images is not None and eval_images < 1:
        raise ValueError(f"selection.eval_images={eval_images}: must be >= 1, or null for the whole α split")
