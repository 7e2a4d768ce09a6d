"""The resumable ``search`` phase of every differentiable method (docs/methods.md#the-differentiable-harness).

A method is five parts wired here: a relaxation (α -> the supernet's mixture), an α objective, an α-gradient
strategy, modifiers (β-DARTS, SDARTS-RS, DARTS-) and a selection rule. One step of the phase = one search epoch:
``train.train_epoch`` runs the weight steps (SGD on the relaxation's mixture at the detached α, a fresh sample per
iteration for stochastic relaxations) and, through its per-batch hooks, the α step before (``alpha_first``: quark0,
A²M) or after (``weights_first``: AutoDL's DARTS-V1) each weight step: Adam on the strategy's gradient of the α
objective on a batch of the α split. Then the per-epoch monitoring (held-out loss, op distribution, entropy,
parameter-free ops, NB201 accuracy, the α-Hessian's dominant eigenvalue) and the selection rule.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nasflat import distributed
from nasflat.algorithms.differentiable.arch_grads import ArchGradient, FirstOrder, Unrolled
from nasflat.algorithms.differentiable.modifiers import Modifier
from nasflat.algorithms.differentiable.objectives import Bilevel, Objective
from nasflat.algorithms.differentiable.problem import AlphaProblem, Batch, VirtualSGD
from nasflat.algorithms.differentiable.progressive import Progressive
from nasflat.algorithms.differentiable.relaxations.base import Relaxation
from nasflat.algorithms.differentiable.relaxations.softmax import Softmax
from nasflat.algorithms.differentiable.selection import DartsES, FinalEpoch, Selection
from nasflat.context import SearchContext
from nasflat.phases import check_finite
from nasflat.rng import Purpose
from nasflat.spaces.base import Arch
from nasflat.spaces.mixture import Mixture
from nasflat.train import SGDConfig, darts_sgd, evaluate, train_epoch

ORDERS = ("alpha_first", "weights_first")


class CurvatureTracker(Protocol):
    """λ_max of ∇²_α L_val after an epoch (nasflat.analysis.alpha_curvature.AlphaCurvature, built by the config)."""

    every: int

    def tracked(self, epoch: int, epochs: int) -> bool: ...

    def batches(self, split: Any, generator: torch.Generator, mean: Any, std: Any, device: Any, dtype: Any) -> list: ...

    def __call__(
        self, model: nn.Module, alphas: Any, batches: Any, generator: torch.Generator, mixture: Any
    ) -> Any: ...


@dataclass
class Parts:
    """A differentiable method: the five parts the harness wires (docs/methods.md#the-differentiable-harness)."""

    relaxation: Relaxation = field(default_factory=Softmax)
    objective: Objective = field(default_factory=Bilevel)
    arch_grad: ArchGradient = field(default_factory=FirstOrder)
    modifiers: dict[str, Modifier] = field(default_factory=dict)
    selection: Selection = field(default_factory=FinalEpoch)

    def problems(self, *, eval_images: int | None, track_hessian: bool) -> list[tuple[str, str]]:
        """Every combination that cannot work, as (config key under algo, reason); empty when the parts fit."""
        checks: list[tuple[str, Any]] = [
            ("arch_grad", lambda: self.arch_grad.check(self.relaxation, self.objective)),
            ("selection", lambda: self.selection.check(eval_images=eval_images, track_hessian=track_hessian)),
            *((f"modifiers.{k}", lambda m=m: m.check(self.relaxation)) for k, m in self.modifiers.items()),
        ]
        found = []
        for key, check in checks:
            try:
                check()
            except ValueError as e:
                found.append((key, str(e)))
        return found

    def supernet_options(self) -> dict[str, Any]:
        """Build options the relaxation and the modifiers need (partial channels, DARTS-'s aux skip)."""
        options = dict(self.relaxation.supernet_options())
        for m in self.modifiers.values():
            options.update(m.supernet_options())
        return options


def alpha_entropy(probs: Mapping[str, torch.Tensor]) -> float:
    """Mean over all edges of the entropy (nats) of the op distribution; log K = undecided, 0 = one-hot."""
    rows = torch.cat([p.reshape(-1, p.shape[-1]) for p in probs.values()]).double()
    return float(-(rows * rows.clamp_min(1e-30).log()).sum(-1).mean())


class DifferentiableSearch:
    """Phase ``search`` for every differentiable method: one step = one search epoch.

    ``selection``: the rule returning the architecture (and possibly stopping early); the held-out best epoch
    (A²M's record) is kept whatever the rule, and DARTS-ES's decisions are logged whenever ``track_hessian``.
    ``arch_warmup_epochs``: no α update before that epoch (PC-DARTS; the α batches are drawn all the same).
    ``per_space``: per-space values the parts' configs interpolate (e.g. A²M's ρ); read by the config only.
    ``count_flops``: count one iteration's FLOPs (``flops_per_iteration`` in the metrics and the summary).
    ``progressive``: DrNAS's progressive learning (stages that prune ops and widen the partial channels).
    """

    name = "search"
    uses_evaluator = False  # the pipeline skips the evaluator (and its SPOS supernet) for this algorithm
    needs_supernet = False
    # quark0's train_search.py and A²M: the first `portion` of the training set for w, the rest for α, in order
    official_split = "first"

    def __init__(
        self,
        ctx: SearchContext,
        evaluator: Any = None,
        *,
        relaxation: Relaxation | None = None,
        objective: Objective | None = None,
        arch_grad: ArchGradient | None = None,
        modifiers: Mapping[str, Modifier] | None = None,
        selection: Selection | None = None,
        epochs: int = 50,
        batch_size: int = 64,
        optim: SGDConfig | None = None,
        arch_lr: float = 3e-4,
        arch_betas: Sequence[float] = (0.5, 0.999),
        arch_weight_decay: float = 1e-3,
        arch_warmup_epochs: int = 0,
        order: Literal["alpha_first", "weights_first"] = "alpha_first",
        alpha_augment: bool = True,
        derive_exclude_none: bool = False,
        eval_images: int | None = None,
        eval_augment: bool = True,
        eval_batch_size: int = 256,
        track_hessian: bool = True,
        hessian: CurvatureTracker | None = None,
        per_space: Mapping[str, Mapping[str, Any]] | None = None,
        count_flops: bool = False,
        progressive: Progressive | None = None,
    ) -> None:
        defaults = Parts()
        self.parts = Parts(
            relaxation or defaults.relaxation,
            objective or defaults.objective,
            arch_grad or defaults.arch_grad,
            dict(modifiers or {}),
            selection or defaults.selection,
        )
        _refuse(self.parts, evaluator, order, epochs, eval_images, track_hessian, hessian)
        self.ctx, self.space = ctx, ctx.space
        self.epochs, self.order, self.warmup = epochs, order, arch_warmup_epochs
        self.optim = optim or darts_sgd()
        self.relaxation = self.parts.relaxation.bind(self.space)
        self.derive_options = {"exclude_none": True} if derive_exclude_none else {}
        self.eval_images, self.eval_augment = eval_images, eval_augment
        self._build_core(arch_lr, arch_betas, arch_weight_decay)
        self.progressive = progressive  # DrNAS's stages (docs/methods.md#drnas): pruning masks, widening, warm-ups
        if progressive is not None:
            progressive.attach(self)
        self._build_loaders(batch_size, alpha_augment, eval_augment, eval_batch_size)
        self._init_tracking(hessian if track_hessian else None)
        self.count_flops, self.flops_per_iteration = count_flops, None
        # the phase's steps: the search epochs, then any the selection rule runs (DARTS-PT's tuning epochs)
        self.total_steps = epochs + self.parts.selection.extra_steps(self.space)
        self.set_epoch(0)

    # ---- construction ----------------------------------------------------------------------------------------------
    def _build_core(self, arch_lr: float, arch_betas: Sequence[float], arch_weight_decay: float) -> None:
        """The supernet (with the parts' build options), α from the relaxation's shapes, both optimizers."""
        self.model = self.ctx.build_supernet(**self.parts.supernet_options())
        first = next(self.model.parameters())
        g = torch.Generator().manual_seed(self.ctx.stream(Purpose.ALPHA_INIT))  # CPU: the same α on every device
        self.alphas = nn.ParameterDict(
            {
                name: nn.Parameter(self.relaxation.init(tuple(shape), g, first.dtype).to(first.device))
                for name, shape in self.relaxation.arch_shapes().items()
            }
        )
        self.names = tuple(self.alphas)
        self.w_opt = self.optim.make(self.model.parameters())
        self.a_opt = torch.optim.Adam(
            list(self.alphas.values()), lr=arch_lr, betas=tuple(arch_betas), weight_decay=arch_weight_decay
        )
        # SDARTS-RS noise, NA-DARTS neighbours, stochastic relaxations' samples: one stream, saved with the run
        self.noise = torch.Generator().manual_seed(self.ctx.stream(Purpose.ARCH_NOISE))

    def _build_loaders(self, batch_size: int, alpha_augment: bool, eval_augment: bool, eval_batch_size: int) -> None:
        # under torch.distributed the train and α batches are global (each rank takes its slice, gradients are
        # averaged); the held-out evaluation is not sharded, so every rank takes the same selection decisions
        ctx = self.ctx
        self.train_loader = ctx.loader(
            "search_train", batch_size, train=True, seed=ctx.stream(Purpose.DARTS_TRAIN_DATA)
        )
        self.val_loader = ctx.loader(
            "search_val", batch_size, train=alpha_augment, seed=ctx.stream(Purpose.DARTS_ALPHA_DATA), shard=True
        )
        # the held-out evaluation counts every α-split image once (A²M's and quark0's `infer`): no dropped batch,
        # augmented and shuffled when eval_augment (their valid_queue samples augmented train_data at random)
        eval_bs = min(eval_batch_size, len(ctx.data.splits["search_val"]))
        self.eval_loader = ctx.loader(
            "search_val",
            eval_bs,
            train=eval_augment,
            seed=ctx.stream(Purpose.DARTS_EVAL_DATA),
            shard=False,
            drop_last=False,
        )

    def _init_tracking(self, hessian: CurvatureTracker | None) -> None:
        """Per-epoch history, the selection record and the α-Hessian tracker with its fixed batch set."""
        self.history: list[dict[str, Any]] = []
        self.best_loss, self.best_epoch, self.best_arch = math.inf, -1, self.derive()
        self.stopped_at: int | None = None
        self.hessian = hessian
        selection = self.parts.selection
        self.es_rule = selection if isinstance(selection, DartsES) else DartsES()
        self.es_epoch: int | None = None
        self.hessian_batches = self._hessian_batches()

    def _hessian_batches(self) -> list[Any]:
        """The fixed α-Hessian images: drawn once from the α split by a named stream, so a resumed run has them too."""
        if self.hessian is None:
            return []
        data, hw = self.ctx.data, self.ctx.hardware
        g = torch.Generator().manual_seed(self.ctx.stream(Purpose.ALPHA_HESSIAN_DATA))
        return self.hessian.batches(data.splits["search_val"], g, data.mean, data.std, hw.torch_device, hw.torch_dtype)

    # ---- schedules and mixtures -----------------------------------------------------------------------------------
    @property
    def lr(self) -> float:
        return self.w_opt.param_groups[0]["lr"]

    @property
    def modifiers(self) -> list[Modifier]:
        return list(self.parts.modifiers.values())

    def set_epoch(self, epoch: int) -> None:
        """The epoch's lr (per-epoch cosine unless optim.per_step) and every part's schedule."""
        self.epoch = epoch
        for group in self.w_opt.param_groups:
            group["lr"] = self.optim.lr_at(epoch, self.epochs)
        self.relaxation.set_epoch(epoch, self.epochs)
        for m in self.modifiers:
            m.set_epoch(epoch, self.epochs)

    def schedules(self) -> dict[str, float]:
        out = {"lr": self.lr, **self.relaxation.schedules()}
        for m in self.modifiers:
            out.update(m.schedules())
        return out

    def aux_skip(self) -> float:
        return sum(m.aux_skip() for m in self.modifiers)

    def detached(self) -> dict[str, torch.Tensor]:
        return {n: a.detach() for n, a in self.alphas.items()}

    def probs(self) -> dict[str, torch.Tensor]:
        """The op distribution per cell type, detached: what logging and entropy read."""
        return {n: p.detach() for n, p in self.relaxation.probs(self.detached()).items()}

    def mixture(self, generator: torch.Generator | None = None) -> Mixture:
        """The relaxation's mixture at the detached α (a sample from ``generator`` when stochastic), DARTS-'s skip."""
        m = self.relaxation.mixture(self.detached(), generator=generator)
        beta = self.aux_skip()
        return dataclasses.replace(m, aux_skip=beta) if beta else m

    def weight_mixture(self) -> Mixture:
        """What the weight step trains: a fresh mixture (sample) per iteration, modified (SDARTS-RS noise)."""
        m = self.mixture(self.noise if self.relaxation.stochastic else None)
        for mod in self.modifiers:
            m = mod.weight_mixture(m, self.noise)
        return m

    def eval_mixture(self, key: int | str) -> Mixture:
        """A deterministic mixture for measurements (held-out loss, curvature): stochastic relaxations draw from a
        generator of their own per (epoch, use), so measuring never moves the search's noise stream."""
        g = torch.Generator().manual_seed(self.ctx.stream(Purpose.ARCH_NOISE, "measure", self.epoch, key))
        return self.mixture(g if self.relaxation.stochastic else None)

    # ---- the α step --------------------------------------------------------------------------------------------------
    def alpha_problem(self, val: Batch, train: Batch | None = None, batch_index: int = 0) -> AlphaProblem:
        """The α objective of this iteration (full precision: finite differences need it)."""
        cells = self.relaxation.cells
        penalties = [
            lambda named, m=m: m.alpha_penalty({c: named[c] for c in cells}, batch_index) for m in self.modifiers
        ]
        sgd = None
        if isinstance(self.parts.arch_grad, Unrolled):
            buffers = {n: self.w_opt.state.get(p, {}).get("momentum_buffer") for n, p in self.model.named_parameters()}
            sgd = VirtualSGD(
                lr=self.lr, momentum=self.optim.momentum, weight_decay=self.optim.weight_decay, buffers=buffers
            )
        seed = int(torch.randint(0, 2**62, (), generator=self.noise)) if self.relaxation.stochastic else None
        return AlphaProblem(
            model=self.model,
            relaxation=self.relaxation,
            names=self.names,
            val_batch=val,
            train_batch=train,
            objective=self.parts.objective,
            penalties=penalties,
            aux_skip=self.aux_skip(),
            sgd=sgd,
            generator=self.noise,
            draw_seed=seed,
        )

    def alpha_step(self, val: Batch, train: Batch | None = None, batch_index: int = 0) -> list[torch.Tensor]:
        """Adam on α with the strategy's gradient (all-reduced across ranks); returns that gradient."""
        self.model.train()
        grads = self.parts.arch_grad(self.alpha_problem(val, train, batch_index), list(self.alphas.values()))
        distributed.all_reduce_mean(grads)  # idempotent after the strategy's own reduce; guards custom strategies
        self.a_opt.zero_grad(set_to_none=True)
        for a, g in zip(self.alphas.values(), grads):
            a.grad = g.detach().to(a.dtype)
        self.a_opt.step()
        return grads

    # ---- one epoch -------------------------------------------------------------------------------------------------
    def iteration_hooks(
        self, step: int, alpha_batches: Callable[[], Batch] | None = None
    ) -> tuple[Callable[[int, Batch], None], Callable[[int, Batch], None]]:
        """train_epoch's (before_batch, after_batch) hooks for epoch ``step``: draw the α batch (default: a random
        batch of the α split), share rank 0's noise state, run the α step in the configured order."""
        alpha_batches = alpha_batches or self.val_loader.sample_batch
        state: dict[str, Batch] = {}
        alpha_on = (step if self.progressive is None else self.progressive.stage_epoch(step)) >= self.warmup
        counter = self._flop_counter(step, alpha_on)

        def before(i: int, batch: Batch) -> None:
            if counter is not None and i == 0:
                counter.__enter__()
            if distributed.world_size() > 1:  # every rank uses rank 0's draws (samples, noise, neighbours)
                self.noise.set_state(distributed.broadcast_object(self.noise.get_state()))
            state["val"] = alpha_batches()
            if alpha_on and self.order == "alpha_first":
                self.alpha_step(state["val"], batch, i)

        def after(i: int, batch: Batch) -> None:
            if alpha_on and self.order == "weights_first":
                self.alpha_step(state["val"], batch, i)
            if counter is not None and i == 0:
                counter.__exit__(None, None, None)
                self.flops_per_iteration = counter.get_total_flops()

        return before, after

    def _flop_counter(self, step: int, alpha_on: bool) -> FlopCounterMode | None:
        """With ``count_flops``: count the first iteration that has an α step (or the last epoch's first, if α never
        moves), conv and matmul FLOPs forward and backward (scripts/method_table.py reads them)."""
        if not self.count_flops or self.flops_per_iteration is not None:
            return None
        return FlopCounterMode(display=False) if alpha_on or step == self.epochs - 1 else None

    def train_steps(
        self, step: int, batches: Any, num_batches: int, alpha_batches: Callable[[], Batch] | None = None
    ) -> dict[str, float]:
        """The iterations of epoch ``step`` over ``batches`` (weight steps in train_epoch, α steps in its hooks);
        ``alpha_batches`` gives each α batch (default: a random batch of the α split)."""
        before, after = self.iteration_hooks(step, alpha_batches)
        return train_epoch(
            self.model,
            batches,
            self.w_opt,
            hw=self.ctx.hardware,
            num_batches=num_batches,
            set_lr=lambda f: self.optim.lr_at(step + f, self.epochs),
            grad_clip=self.optim.grad_clip,
            label_smoothing=self.optim.label_smoothing,
            forward=lambda m, x: m(x, self.weight_mixture()),
            reporter=self.ctx.reporter,
            where=f"search epoch {step + 1}",
            before_batch=before,
            after_batch=after,
        )

    def iteration(self, train: Batch, val: Batch) -> dict[str, float]:
        """One search iteration of the current epoch on given batches (α batch ``val``): benchmarks and tests."""
        return self.train_steps(self.epoch, [train], 1, alpha_batches=lambda: val)

    def run_step(self, step: int) -> dict[str, Any]:
        if step >= self.epochs:  # after the search epochs: the selection rule's own steps
            return self.parts.selection.run_step(step - self.epochs, self)
        if self.stopped_at is not None:
            return {"early_stopped_at": self.stopped_at}
        if self.progressive is not None:
            self.progressive.enter(step, self)
        start_arch = self.derive()
        self.set_epoch(step)
        schedules = self.schedules()
        self.ctx.reporter.start_epoch(self.name, step, self.epochs, len(self.train_loader))
        stats = self.train_steps(step, self.train_loader, len(self.train_loader))
        self.ctx.reporter.end_epoch()
        check_finite(sum(float(a.detach().sum()) for a in self.alphas.values()), f"α update, epoch {step + 1}")
        metrics = self._epoch_metrics(stats, schedules)
        self._track_curvature(step, metrics)
        self._select(step, start_arch, metrics)
        self.history.append(metrics)
        return metrics

    def _epoch_metrics(self, stats: Mapping[str, float], schedules: Mapping[str, float]) -> dict[str, Any]:
        arch, probs = self.derive(), self.probs()
        return {
            "train_loss": stats["loss"],
            "train_acc": stats["acc"],
            **self.evaluate(),
            **schedules,
            "alpha_entropy": alpha_entropy(probs),
            "param_free_ops": self.space.param_free_ops(arch),
            "arch": self.space.format(arch),
            "images_per_s": stats["images_per_s"],
            "iter_s": stats["iter_s"],
            **({"flops_per_iteration": self.flops_per_iteration} if self.flops_per_iteration is not None else {}),
            **self.benchmark_accuracy(arch),
            **{
                f"alpha_softmax_{n}": [[round(v, 5) for v in row] for row in p.cpu().tolist()] for n, p in probs.items()
            },
        }

    def evaluate(self) -> dict[str, float]:
        """Held-out loss/accuracy of the mixture on the α split, eval mode (A²M's ``infer``; quark0's ``infer``).

        Means over every image of the split (or the first ``eval_images`` of this epoch's order), each counted once.
        """
        if self.eval_images == 0:
            return {}
        limit = math.inf if self.eval_images is None else self.eval_images
        mixture, counted = self.eval_mixture("held_out"), [0]

        def batches() -> Iterator[Batch]:
            for x, y in itertools.takewhile(lambda _: counted[0] < limit, self.eval_loader):
                counted[0] += len(y)
                yield x, y

        out = evaluate(self.model, batches(), hw=self.ctx.hardware, forward=lambda m, x: m(x, mixture))
        self.model.train()
        return {"valid_loss": out["loss"], "valid_acc": out["acc"], "valid_images": counted[0]}

    def _track_curvature(self, step: int, metrics: dict[str, Any]) -> None:
        """λ_max of ∇²_α L_val on the fixed batches (docs/analysis.md#α-space-curvature-during-differentiable-search)
        and the DARTS-ES decision on its history (docs/methods.md#darts-es)."""
        if self.hessian is None or not self.hessian.tracked(step, self.epochs):
            return
        g = torch.Generator().manual_seed(self.ctx.stream(Purpose.ALPHA_HESSIAN_POWER, step))
        result = self.hessian(self.model, self.alphas, self.hessian_batches, g, self._curvature_mixture())
        metrics.update(result.metrics())
        if step == self.epochs - 1:  # RobustDARTS never stops after the last epoch
            return
        eigs = [h["alpha_hessian_eig"] for h in self.history if "alpha_hessian_eig" in h] + [result.eigenvalue]
        decision = self.es_rule.check_epoch(step, eigs, self.hessian.every)
        if decision.ratio is not None:
            metrics["darts_es_ratio"] = decision.ratio
        if decision.stop_epoch is not None and self.es_epoch is None:
            self.es_epoch = decision.stop_epoch
            metrics["darts_es_epoch"] = decision.stop_epoch

    def _curvature_mixture(self) -> Any:
        """α -> the α step's mixture (no penalty; one fixed draw for a stochastic relaxation, so L is a function)."""
        seed, beta = self.ctx.stream(Purpose.ARCH_NOISE, "measure", self.epoch, "curvature"), self.aux_skip()

        def mixture(alphas: Mapping[str, torch.Tensor]) -> Mixture:
            g = torch.Generator().manual_seed(seed) if self.relaxation.stochastic else None
            m = self.relaxation.mixture(alphas, generator=g)
            return dataclasses.replace(m, aux_skip=beta) if beta else m

        return mixture

    def _select(self, step: int, start_arch: Arch, metrics: dict[str, Any]) -> None:
        """Keep A²M's record (best held-out loss, start-of-epoch genotype), then ask the selection rule to stop."""
        loss = metrics.get("valid_loss")
        if loss is not None and loss < self.best_loss:
            self.best_loss, self.best_epoch, self.best_arch = loss, step, start_arch
        metrics["a2m_best_epoch"] = self.best_epoch
        if self.parts.selection.should_stop(step, self):
            self.stopped_at = step
            metrics["early_stopped_at"] = step

    # ---- architecture ---------------------------------------------------------------------------------------------
    def derive(self) -> Arch:
        """The current discrete architecture from the relaxation's derivation weights (the space's rule)."""
        return self.space.derive(self.relaxation.derive_weights(self.detached()), **self.derive_options)

    def parse(self, text: str) -> Arch:
        return self.space.parse(text)

    def benchmark_accuracy(self, arch: Arch) -> dict[str, float]:
        """The benchmark's test accuracy of ``arch`` on each of its datasets (empty without a table for this space)."""
        table = self.ctx.table
        if table is None or not table.covers(self.space):
            return {}
        return {f"bench_test_acc_{d}": acc["test"] for d, acc in table.entry(arch).items()}

    # ---- results -----------------------------------------------------------------------------------------------
    def best(self) -> tuple[Arch, float]:
        """The selected architecture and its held-out α-split accuracy (NaN when not evaluated)."""
        return self.parts.selection.choose(self)

    def summary(self) -> dict[str, Any]:
        keys = ("arch", "param_free_ops", "valid_loss", "valid_acc", "alpha_entropy", "alpha_hessian_eig")
        parts = self.parts
        return {
            "selection": parts.selection.name,
            "selection_settings": parts.selection.describe(),
            "relaxation": self.relaxation.describe(),
            "objective": parts.objective.describe(),
            "arch_grad": parts.arch_grad.describe(),
            "alpha_passes_per_step": parts.arch_grad.passes,
            "flops_per_iteration": self.flops_per_iteration,
            "modifiers": [m.name for m in self.modifiers],
            "modifier_settings": [m.describe() for m in self.modifiers],
            "order": self.order,
            "arch_warmup_epochs": self.warmup,
            "epochs_run": len(self.history),
            "early_stopped_at": self.stopped_at,
            "final_arch": self.space.format(self.derive()),
            "a2m_early_stop_arch": self.space.format(self.best_arch),
            "a2m_best_epoch": self.best_epoch,
            "a2m_best_valid_loss": self.best_loss if math.isfinite(self.best_loss) else None,
            "track_hessian": self.hessian is not None,
            "darts_es_epoch": self.es_epoch,
            "darts_es_arch": None if self.es_epoch is None else self.history[self.es_epoch]["arch"],
            "alpha_softmax": {n: p.cpu().tolist() for n, p in self.probs().items()},
            "history": [
                {k: v for k, v in h.items() if k in keys or k.startswith("bench_test_acc_")} for h in self.history
            ],
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "supernet": self.model.state_dict(),
            "alphas": {n: a.detach().clone() for n, a in self.alphas.items()},
            "w_opt": self.w_opt.state_dict(),
            "a_opt": self.a_opt.state_dict(),
            "noise": self.noise.get_state(),
            "train_loader": self.train_loader.generator.get_state(),
            "val_loader": self.val_loader.generator.get_state(),
            "eval_loader": self.eval_loader.generator.get_state(),
            "history": self.history,
            "best": [self.best_loss, self.best_epoch, self.space.format(self.best_arch)],
            "stopped_at": -1 if self.stopped_at is None else self.stopped_at,
            "darts_es_epoch": -1 if self.es_epoch is None else self.es_epoch,
            "selection": self.parts.selection.state_dict(),
            **({} if self.progressive is None else {"progressive": self.progressive.state_dict()}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.progressive is not None:  # the saved stage's supernet shapes and SGD first
            self.progressive.load_state_dict(state["progressive"], self)
        self.model.load_state_dict(state["supernet"])
        with torch.no_grad():
            for n, a in self.alphas.items():
                a.copy_(state["alphas"][n])
        self.w_opt.load_state_dict(state["w_opt"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.noise.set_state(state["noise"])
        for name in ("train_loader", "val_loader", "eval_loader"):
            getattr(self, name).generator.set_state(state[name])
        self.history = list(state["history"])
        loss, epoch, arch = state["best"]
        self.best_loss, self.best_epoch, self.best_arch = float(loss), int(epoch), self.space.parse(arch)
        self.stopped_at = None if int(state["stopped_at"]) < 0 else int(state["stopped_at"])
        self.es_epoch = None if int(state["darts_es_epoch"]) < 0 else int(state["darts_es_epoch"])
        self.parts.selection.load_state_dict(state.get("selection", {}))
        self.set_epoch(min(len(self.history), self.epochs))


def _refuse(
    parts: Parts,
    evaluator: Any,
    order: str,
    epochs: int,
    eval_images: int | None,
    track_hessian: bool,
    hessian: Any,
) -> None:
    """Refuse what cannot work before any work (the CLI reports the same problems at config validation)."""
    if evaluator is not None:
        raise ValueError("differentiable algorithms score architectures with their own α; they take no evaluator")
    if order not in ORDERS:
        raise ValueError(f"order={order!r}: expected one of {', '.join(ORDERS)}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if track_hessian and hessian is None:
        raise ValueError("track_hessian=true needs the tracker settings (algo.hessian); or set track_hessian=false")
    found = parts.problems(eval_images=eval_images, track_hessian=track_hessian)
    if found:
        raise ValueError("; ".join(f"{key}: {reason}" for key, reason in found))
