"""The differentiable family: DARTS (1st/2nd order), A²M and NA-DARTS on either search space.

One bilevel loop, read top to bottom in :meth:`Bilevel.step`: an α step (Adam on the gradient an
:mod:`~nasflat.algorithms.arch_grad` strategy returns, on a random batch of the α split) and a weight step (SGD on
the train batch with softmax(α) frozen). The methods differ only in the strategy and in the base-method options
of :mod:`~nasflat.algorithms.regularizers` (β-DARTS, SDARTS-RS, DARTS-). :class:`DartsSearch` is the resumable
phase around it: one step = one epoch, per-epoch monitoring of the collapse (softmax(α), entropy, parameter-free
ops of the derived architecture, its NB201 accuracy) and the genotype selection rule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from nasflat import distributed
from nasflat.algorithms.arch_grad import AlphaProblem, ArchGradient, FirstOrder, Unrolled, VirtualSGD
from nasflat.algorithms.regularizers import (
    beta_darts_lambda,
    beta_darts_penalty,
    darts_minus_beta,
    sdarts_epsilon,
    sdarts_rs_perturb,
)
from nasflat.analysis.alpha_curvature import AlphaCurvature, DartsES
from nasflat.context import SearchContext
from nasflat.hardware import Hardware
from nasflat.phases import check_finite
from nasflat.rng import Purpose, stream_seed
from nasflat.spaces.base import Arch
from nasflat.train import SGDConfig, darts_sgd

Batch = tuple[torch.Tensor, torch.Tensor]
ORDERS = ("alpha_first", "weights_first")
SELECTIONS = ("final_epoch", "a2m_early_stop", "darts_es")
BETA_SCHEDULES = ("epoch", "batch_index")
NB201_BENCH_DATASETS = ("cifar10", "cifar100", "imagenet16_120")


class Bilevel:
    """DARTS's alternation on one supernet; owns α (raw logits, 1e-3·N(0,1)) and both optimizers.

    ``seed`` is the run seed: α's initialisation and the noise generator (SDARTS-RS perturbations, NA-DARTS
    neighbour draws) take their own streams of it (:mod:`nasflat.rng`), apart from every data stream.
    """

    def __init__(
        self,
        supernet: nn.Module,
        shapes: Mapping[str, tuple[int, int]],
        *,
        arch_grad: ArchGradient,
        epochs: int,
        optim: SGDConfig,
        arch_lr: float = 3e-4,
        arch_betas: Sequence[float] = (0.5, 0.999),
        arch_weight_decay: float = 1e-3,
        order: str = "alpha_first",
        beta_darts: bool = False,
        beta_tau: float = 0.5,
        beta_schedule: str = "epoch",
        beta_weights: Mapping[str, float] | None = None,
        sdarts_rs: bool = False,
        sdarts_epsilon_max: float = 0.3,
        darts_minus: bool = False,
        darts_minus_epochs: int | None = None,
        seed: int = 0,
        hardware: Hardware | None = None,
    ) -> None:
        if order not in ORDERS:
            raise ValueError(f"order={order!r}: expected one of {', '.join(ORDERS)}")
        if beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"beta_schedule={beta_schedule!r}: expected one of {', '.join(BETA_SCHEDULES)}")
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.model, self.arch_grad, self.epochs, self.optim, self.order = supernet, arch_grad, epochs, optim, order
        self.hw = hardware or Hardware()
        self.beta_darts, self.beta_tau, self.beta_schedule = beta_darts, beta_tau, beta_schedule
        self.beta_weights = dict(beta_weights or {})
        self.sdarts_rs, self.sdarts_epsilon_max = sdarts_rs, sdarts_epsilon_max
        self.darts_minus, self.darts_minus_epochs = darts_minus, darts_minus_epochs or epochs
        device = next(supernet.parameters()).device
        dtype = next(supernet.parameters()).dtype
        g = torch.Generator().manual_seed(stream_seed(seed, Purpose.ALPHA_INIT))  # CPU: the same α on every device
        self.alphas = nn.ParameterDict(
            {
                name: nn.Parameter((1e-3 * torch.randn(shape, generator=g, dtype=dtype)).to(device))
                for name, shape in shapes.items()
            }
        )
        self.names = tuple(shapes)
        self.w_opt = optim.make(supernet.parameters())
        self.a_opt = torch.optim.Adam(
            list(self.alphas.values()), lr=arch_lr, betas=tuple(arch_betas), weight_decay=arch_weight_decay
        )
        self.noise = torch.Generator().manual_seed(stream_seed(seed, Purpose.ARCH_NOISE))  # SDARTS-RS, NA-DARTS
        self.epoch = 0
        self.set_epoch(0)

    # ---- schedules -------------------------------------------------------------------------------------------------
    @property
    def lr(self) -> float:
        return self.w_opt.param_groups[0]["lr"]

    def set_epoch(self, epoch: int) -> None:
        """Per-epoch cosine lr (quark0 / AutoDL step it once per epoch) and the base methods' schedules."""
        self.epoch = epoch
        for group in self.w_opt.param_groups:
            group["lr"] = self.optim.lr_at(epoch, self.epochs)

    def aux_skip(self) -> float:
        return darts_minus_beta(self.epoch, self.darts_minus_epochs) if self.darts_minus else 0.0

    def beta_lambda(self, batch_index: int) -> float:
        t = self.epoch if self.beta_schedule == "epoch" else batch_index
        return beta_darts_lambda(t, self.beta_tau) if self.beta_darts else 0.0

    def sdarts_eps(self) -> float:
        return sdarts_epsilon(self.epoch, self.epochs, self.sdarts_epsilon_max) if self.sdarts_rs else 0.0

    def schedules(self) -> dict[str, float]:
        out = {"lr": self.lr}
        if self.darts_minus:
            out["aux_skip_beta"] = self.aux_skip()
        if self.beta_darts:
            out["beta_darts_lambda"] = self.beta_lambda(0)
        if self.sdarts_rs:
            out["sdarts_epsilon"] = self.sdarts_eps()
        return out

    def forward_kwargs(self) -> dict[str, Any]:
        beta = self.aux_skip()
        return {"aux_skip": beta} if beta else {}

    # ---- the loop ------------------------------------------------------------------------------------------------
    def probs(self) -> dict[str, torch.Tensor]:
        """softmax(α) per cell type, detached: the weights of the weight step and of discretization."""
        return {n: a.detach().softmax(dim=-1) for n, a in self.alphas.items()}

    def step(self, train: Batch, val: Batch, batch_index: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """One search iteration; returns the weight step's (loss, #correct) as tensors (no host sync)."""
        if self.order == "alpha_first":  # quark0, A²M
            self.alpha_step(val, train, batch_index)
            return self.weight_step(train)
        out = self.weight_step(train)  # AutoDL's DARTS-V1
        self.alpha_step(val, train, batch_index)
        return out

    def alpha_problem(self, val: Batch, train: Batch | None = None, batch_index: int = 0) -> AlphaProblem:
        """The α objective of this iteration (full precision: finite differences need it)."""
        lam = self.beta_lambda(batch_index)
        penalty = None
        if lam:
            names = self.names

            def penalty(alphas: Sequence[torch.Tensor]) -> torch.Tensor:
                return lam * beta_darts_penalty(dict(zip(names, alphas)), self.beta_weights)

        sgd = None
        if isinstance(self.arch_grad, Unrolled):
            momentum = self.optim.momentum
            buffers = {n: self.w_opt.state.get(p, {}).get("momentum_buffer") for n, p in self.model.named_parameters()}
            sgd = VirtualSGD(lr=self.lr, momentum=momentum, weight_decay=self.optim.weight_decay, buffers=buffers)
        return AlphaProblem(
            model=self.model,
            names=self.names,
            val_batch=val,
            train_batch=train,
            penalty=penalty,
            forward_kwargs=self.forward_kwargs(),
            sgd=sgd,
            generator=self.noise,
        )

    def alpha_step(self, val: Batch, train: Batch | None = None, batch_index: int = 0) -> list[torch.Tensor]:
        """Adam on α with the strategy's gradient (all-reduced across ranks); returns that gradient."""
        self.model.train()
        grads = self.arch_grad(self.alpha_problem(val, train, batch_index), list(self.alphas.values()))
        distributed.all_reduce_mean(grads)  # idempotent after the strategy's own reduce; guards custom strategies
        self.a_opt.zero_grad(set_to_none=True)
        for a, g in zip(self.alphas.values(), grads):
            a.grad = g.detach().to(a.dtype)
        self.a_opt.step()
        return grads

    def weight_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """SGD on the weights with softmax(α) frozen (SDARTS-RS: perturbed), grad-clipped, all-reduced."""
        self.model.train()
        x, y = batch
        weights = self.probs()
        if self.sdarts_rs:
            eps = self.sdarts_eps()
            weights = {n: sdarts_rs_perturb(w, eps, self.noise) for n, w in weights.items()}
        with self.hw.autocast():
            logits = self.model(x, weights, **self.forward_kwargs())
            loss = F.cross_entropy(logits, y)
        self.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        params = list(self.model.parameters())
        distributed.all_reduce_grads(params)
        if self.optim.grad_clip:
            nn.utils.clip_grad_norm_(params, self.optim.grad_clip)
        self.w_opt.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    # ---- state ---------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "supernet": self.model.state_dict(),
            "alphas": {n: a.detach().clone() for n, a in self.alphas.items()},
            "w_opt": self.w_opt.state_dict(),
            "a_opt": self.a_opt.state_dict(),
            "noise": self.noise.get_state(),
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["supernet"])
        with torch.no_grad():
            for n, a in self.alphas.items():
                a.copy_(state["alphas"][n])
        self.w_opt.load_state_dict(state["w_opt"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.noise.set_state(state["noise"])
        self.set_epoch(int(state["epoch"]))


def alpha_entropy(probs: Mapping[str, torch.Tensor]) -> float:
    """Mean over all edges of the entropy (nats) of softmax(α); log K = undecided, 0 = one-hot."""
    rows = torch.cat([p.reshape(-1, p.shape[-1]) for p in probs.values()]).double()
    return float(-(rows * rows.clamp_min(1e-30).log()).sum(-1).mean())


def _check_options(evaluator: Any, selection: str, eval_images: int | None, track_hessian: bool) -> None:
    """Refuse combinations the harness cannot honour (library callers bypass the CLI's config check)."""
    if evaluator is not None:
        raise ValueError("DARTS-family algorithms score architectures with their own α; they take no evaluator")
    if selection not in SELECTIONS:
        raise ValueError(f"selection={selection!r}: expected one of {', '.join(SELECTIONS)}")
    if selection == "a2m_early_stop" and eval_images == 0:
        raise ValueError("selection=a2m_early_stop needs the per-epoch held-out loss; set eval_images > 0 or null")
    if selection == "darts_es" and not track_hessian:
        raise ValueError("selection=darts_es stops on the tracked α-Hessian eigenvalue; set track_hessian=true")


class DartsSearch:
    """Phase ``search`` for DARTS / DARTS-2nd / A²M / NA-DARTS: one step = one search epoch.

    The α-gradient ``arch_grad`` is the method; the remaining options are the harness (order of the two steps,
    optimizers, data) and A²M's base methods. ``selection``: ``final_epoch`` (DARTS convention),
    ``a2m_early_stop`` (A²M: lowest held-out α-split loss, patience 10, genotype from the *start* of that epoch) or
    ``darts_es`` (RobustDARTS: stop when the local average of λ_max(∇²_α L_val) rises by ``darts_es.factor``).
    ``track_hessian``: λ_max after each epoch (``hessian``: sizes and path), logged and kept in the history.
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
        arch_grad: ArchGradient | None = None,
        epochs: int = 50,
        batch_size: int = 64,
        optim: SGDConfig | None = None,
        arch_lr: float = 3e-4,
        arch_betas: Sequence[float] = (0.5, 0.999),
        arch_weight_decay: float = 1e-3,
        order: Literal["alpha_first", "weights_first"] = "alpha_first",
        alpha_augment: bool = True,
        beta_darts: bool = False,
        beta_tau: float = 0.5,
        beta_schedule: Literal["epoch", "batch_index"] = "epoch",
        beta_weights: Mapping[str, float] | None = None,
        sdarts_rs: bool = False,
        sdarts_epsilon: float = 0.3,
        darts_minus: bool = False,
        darts_minus_epochs: int | None = None,
        derive_exclude_none: bool = False,
        selection: Literal["final_epoch", "a2m_early_stop", "darts_es"] = "final_epoch",
        patience: int = 10,
        eval_images: int | None = None,
        eval_augment: bool = True,
        eval_batch_size: int = 256,
        track_hessian: bool = True,
        hessian: AlphaCurvature | None = None,
        darts_es: DartsES | None = None,
    ) -> None:
        _check_options(evaluator, selection, eval_images, track_hessian)
        self.ctx, self.space = ctx, ctx.space
        self.total_steps, self.selection, self.patience = epochs, selection, patience
        self.derive_options = {"exclude_none": True} if derive_exclude_none else {}
        self.eval_images, self.eval_augment = eval_images, eval_augment
        self.core = Bilevel(
            ctx.build_supernet(**({"aux_skip": True} if darts_minus else {})),
            self.space.weight_shapes(),
            arch_grad=arch_grad or FirstOrder(),
            epochs=epochs,
            optim=optim or darts_sgd(),
            arch_lr=arch_lr,
            arch_betas=arch_betas,
            arch_weight_decay=arch_weight_decay,
            order=order,
            beta_darts=beta_darts,
            beta_tau=beta_tau,
            beta_schedule=beta_schedule,
            beta_weights=beta_weights,
            sdarts_rs=sdarts_rs,
            sdarts_epsilon_max=sdarts_epsilon,
            darts_minus=darts_minus,
            darts_minus_epochs=darts_minus_epochs,
            seed=ctx.seed,
            hardware=ctx.hardware,
        )
        self._build_loaders(batch_size, alpha_augment, eval_augment, eval_batch_size)
        self._init_tracking((hessian or AlphaCurvature()) if track_hessian else None, darts_es or DartsES())

    def _init_tracking(self, hessian: AlphaCurvature | None, darts_es: DartsES) -> None:
        """Per-epoch history, the selection state and the α-Hessian tracker with its fixed batch set."""
        self.history: list[dict[str, Any]] = []
        self.best_loss, self.best_epoch, self.best_arch = math.inf, -1, self.derive()
        self.stopped_at: int | None = None
        self.hessian = hessian
        self.darts_es, self.es_epoch = darts_es, None
        self.hessian_batches = self._hessian_batches()

    def _build_loaders(self, batch_size: int, alpha_augment: bool, eval_augment: bool, eval_batch_size: int) -> None:
        # under torch.distributed the train and α batches are global (each rank takes its slice, gradients are
        # averaged); the held-out evaluation is not sharded, so every rank takes the same selection decisions
        self.train_loader = self.ctx.loader(
            "search_train", batch_size, train=True, seed=self.ctx.stream(Purpose.DARTS_TRAIN_DATA)
        )
        self.val_loader = self.ctx.loader(
            "search_val", batch_size, train=alpha_augment, seed=self.ctx.stream(Purpose.DARTS_ALPHA_DATA), shard=True
        )
        # the held-out evaluation counts every α-split image once (A²M's and quark0's `infer`): no dropped batch,
        # augmented and shuffled when eval_augment (their valid_queue samples augmented train_data at random)
        eval_bs = min(eval_batch_size, len(self.ctx.data.splits["search_val"]))
        self.eval_loader = self.ctx.loader(
            "search_val",
            eval_bs,
            train=eval_augment,
            seed=self.ctx.stream(Purpose.DARTS_EVAL_DATA),
            shard=False,
            drop_last=False,
        )

    def _hessian_batches(self) -> list[Any]:
        """The fixed α-Hessian images: drawn once from the α split by a named stream, so a resumed run has them too."""
        if self.hessian is None:
            return []
        data = self.ctx.data
        g = torch.Generator().manual_seed(self.ctx.stream(Purpose.ALPHA_HESSIAN_DATA))
        hw = self.ctx.hardware
        return self.hessian.batches(data.splits["search_val"], g, data.mean, data.std, hw.torch_device, hw.torch_dtype)

    # ---- architecture ---------------------------------------------------------------------------------------------
    def derive(self) -> Arch:
        """The current discrete architecture (NB201: argmax per edge; DARTS: top-2 rule) from softmax(α)."""
        return self.space.derive(self.core.probs(), **self.derive_options)

    def benchmark_accuracy(self, arch: Arch) -> dict[str, float]:
        """NB201 test accuracy of ``arch`` on every benchmark dataset (empty without a table / on DARTS)."""
        table = self.ctx.table
        if table is None or self.space.name != "nb201":
            return {}
        return {f"bench_test_acc_{d}": table.query(arch, d, "test") for d in NB201_BENCH_DATASETS}

    # ---- one epoch ---------------------------------------------------------------------------------------------
    def run_step(self, step: int) -> dict[str, Any]:
        if self.stopped_at is not None:
            return {"early_stopped_at": self.stopped_at}
        core, hw, reporter = self.core, self.ctx.hardware, self.ctx.reporter
        start_arch = self.derive()
        core.set_epoch(step)
        schedules = core.schedules()
        reporter.start_epoch(self.name, step, self.total_steps, len(self.train_loader))
        loss_sum = torch.zeros((), device=hw.torch_device)
        correct = torch.zeros((), device=hw.torch_device, dtype=torch.long)
        seen, reported, reported_batches, t0 = 0, 0, 0, time.perf_counter()
        for i, (x, y) in enumerate(self.train_loader):
            loss, right = core.step((x, y), self.val_loader.sample_batch(), i)
            loss_sum += loss * y.numel()
            correct += right
            seen += y.numel()
            if i % 20 == 0 or i == len(self.train_loader) - 1:  # one host sync every 20 iterations
                check_finite(loss, f"search epoch {step + 1}, batch {i + 1}")
                reporter.batch(i + 1 - reported_batches, seen - reported, float(loss_sum) / seen, float(correct) / seen)
                reported, reported_batches = seen, i + 1
        wall = time.perf_counter() - t0
        reporter.end_epoch()
        check_finite(loss_sum, f"search epoch {step + 1}")
        check_finite(sum(float(a.detach().sum()) for a in core.alphas.values()), f"α update, epoch {step + 1}")

        arch = self.derive()
        probs = core.probs()
        metrics: dict[str, Any] = {
            "train_loss": float(loss_sum) / max(seen, 1),
            "train_acc": float(correct) / max(seen, 1),
            **self.evaluate(),
            **schedules,
            "alpha_entropy": alpha_entropy(probs),
            "param_free_ops": self.space.param_free_ops(arch),
            "arch": self.space.format(arch),
            "images_per_s": seen / wall,
            **self.benchmark_accuracy(arch),
            **{
                f"alpha_softmax_{n}": [[round(v, 5) for v in row] for row in p.cpu().tolist()] for n, p in probs.items()
            },
        }
        self._track_curvature(step, metrics)
        self._select(step, start_arch, metrics)
        self.history.append(metrics)
        return metrics

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out loss/accuracy of the mixture on the α split, eval mode (A²M's ``infer``; quark0's ``infer``).

        Means over every image of the split (or the first ``eval_images`` of this epoch's order), each counted once.
        """
        if self.eval_images == 0:
            return {}
        model, hw = self.core.model, self.ctx.hardware
        model.eval()
        limit = math.inf if self.eval_images is None else self.eval_images
        weights, kwargs = self.core.probs(), self.core.forward_kwargs()
        loss_sum = torch.zeros((), device=hw.torch_device, dtype=torch.float64)
        correct = torch.zeros((), device=hw.torch_device, dtype=torch.long)
        seen = 0
        for x, y in self.eval_loader:
            if seen >= limit:
                break
            with hw.autocast():
                logits = model(x, weights, **kwargs)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").double()
            correct += (logits.argmax(1) == y).sum()
            seen += y.numel()
        model.train()
        return {
            "valid_loss": float(loss_sum) / max(seen, 1),
            "valid_acc": float(correct) / max(seen, 1),
            "valid_images": seen,
        }

    def _track_curvature(self, step: int, metrics: dict[str, Any]) -> None:
        """λ_max of ∇²_α L_val on the fixed batches (docs/analysis.md#α-space-curvature-during-differentiable-search)
        and the DARTS-ES decision on its history (docs/methods.md#darts-es); stops the search under darts_es."""
        if self.hessian is None or not self.hessian.tracked(step, self.total_steps):
            return
        g = torch.Generator().manual_seed(self.ctx.stream(Purpose.ALPHA_HESSIAN_POWER, step))
        result = self.hessian(self.core.model, self.core.alphas, self.hessian_batches, g, self.core.forward_kwargs())
        metrics.update(result.metrics())
        if step == self.total_steps - 1:  # RobustDARTS never stops after the last epoch
            return
        eigs = [h["alpha_hessian_eig"] for h in self.history if "alpha_hessian_eig" in h] + [result.eigenvalue]
        decision = self.darts_es.check(step, eigs, self.hessian.every)
        if decision.ratio is not None:
            metrics["darts_es_ratio"] = decision.ratio
        if decision.stop_epoch is not None and self.es_epoch is None:
            self.es_epoch = decision.stop_epoch
            metrics["darts_es_epoch"] = decision.stop_epoch
            if self.selection == "darts_es":
                self.stopped_at = step
                metrics["early_stopped_at"] = step

    def _select(self, step: int, start_arch: Arch, metrics: dict[str, Any]) -> None:
        """A²M's rule: if the held-out loss improved, keep the genotype from the start of this epoch (off by one)."""
        loss = metrics.get("valid_loss")
        if loss is not None and loss < self.best_loss:
            self.best_loss, self.best_epoch, self.best_arch = loss, step, start_arch
        metrics["a2m_best_epoch"] = self.best_epoch
        if self.selection == "a2m_early_stop" and step - self.best_epoch > self.patience:
            self.stopped_at = step
            metrics["early_stopped_at"] = step

    # ---- results -----------------------------------------------------------------------------------------------
    def best(self) -> tuple[Arch, float]:
        """The selected architecture and its held-out α-split accuracy (NaN when not evaluated)."""
        if self.selection == "a2m_early_stop":
            acc = self.history[self.best_epoch]["valid_acc"] if self.best_epoch >= 0 else math.nan
            return self.best_arch, acc
        if self.selection == "darts_es" and self.es_epoch is not None:
            chosen = self.history[self.es_epoch]
            return self.space.parse(chosen["arch"]), chosen.get("valid_acc", math.nan)
        return self.derive(), self.history[-1].get("valid_acc", math.nan) if self.history else math.nan

    def summary(self) -> dict[str, Any]:
        final = self.derive()
        keys = (
            "arch",
            "param_free_ops",
            "valid_loss",
            "valid_acc",
            "alpha_entropy",
            "alpha_hessian_eig",
            *(f"bench_test_acc_{d}" for d in NB201_BENCH_DATASETS),
        )
        out: dict[str, Any] = {
            "selection": self.selection,
            "arch_grad": self.core.arch_grad.describe(),
            "alpha_passes_per_step": self.core.arch_grad.passes,
            "base_methods": [
                m
                for m, on in (
                    ("beta_darts", self.core.beta_darts),
                    ("sdarts_rs", self.core.sdarts_rs),
                    ("darts_minus", self.core.darts_minus),
                )
                if on
            ],
            "order": self.core.order,
            "epochs_run": len(self.history),
            "early_stopped_at": self.stopped_at,
            "final_arch": self.space.format(final),
            "a2m_early_stop_arch": self.space.format(self.best_arch),
            "a2m_best_epoch": self.best_epoch,
            "a2m_best_valid_loss": self.best_loss if math.isfinite(self.best_loss) else None,
            "track_hessian": self.hessian is not None,
            "darts_es_epoch": self.es_epoch,
            "darts_es_arch": None if self.es_epoch is None else self.history[self.es_epoch]["arch"],
            "alpha_softmax": {n: p.cpu().tolist() for n, p in self.core.probs().items()},
            "history": [{k: h[k] for k in keys if k in h} for h in self.history],
        }
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "core": self.core.state_dict(),
            "train_loader": self.train_loader.generator.get_state(),
            "val_loader": self.val_loader.generator.get_state(),
            "eval_loader": self.eval_loader.generator.get_state(),
            "history": self.history,
            "best": [self.best_loss, self.best_epoch, self.space.format(self.best_arch)],
            "stopped_at": -1 if self.stopped_at is None else self.stopped_at,
            "darts_es_epoch": -1 if self.es_epoch is None else self.es_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.core.load_state_dict(state["core"])
        self.train_loader.generator.set_state(state["train_loader"])
        self.val_loader.generator.set_state(state["val_loader"])
        self.eval_loader.generator.set_state(state["eval_loader"])
        self.history = list(state["history"])
        loss, epoch, arch = state["best"]
        self.best_loss, self.best_epoch, self.best_arch = float(loss), int(epoch), self.space.parse(arch)
        stopped = int(state["stopped_at"])
        self.stopped_at = None if stopped < 0 else stopped
        es = int(state.get("darts_es_epoch", -1))  # absent in checkpoints written before DARTS-ES
        self.es_epoch = None if es < 0 else es
