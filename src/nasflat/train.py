"""Plain training/evaluation loops and the two weight-training phases (SPOS supernet, retrain from scratch).

The loops are ordinary functions over a device-resident loader so the bi-level algorithms can reuse them
with the loop in view.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasflat import distributed
from nasflat.checkpoint import numpy_rng_state, set_numpy_rng_state
from nasflat.hardware import Hardware, rng_fork
from nasflat.phases import check_finite
from nasflat.rng import Purpose
from nasflat.tracking import Reporter

Batch = tuple[torch.Tensor, torch.Tensor]
Forward = Callable[[nn.Module, torch.Tensor], Any]
BatchHook = Callable[[int, Batch], None]  # (batch index, batch): e.g. a bilevel search's α step


@dataclass(frozen=True)
class SGDConfig:
    """SGD + cosine schedule; defaults are NB201's 200-epoch protocol (AutoDL hyper-opts/200E).

    The cosine is stepped once per epoch by default: lr(e) = lr_min + (lr - lr_min)(1 + cos(pi e / T)) / 2 for the
    whole of epoch e. That is AutoDL's ``CosineAnnealingLR`` (procedures/optimizers.py: past warm-up its ``get_lr``
    reads only the epoch; the per-iteration ``update(None, i / len(loader))`` calls of NB201's training loop change
    the lr only during warm-up, and NB201's configs have none) and quark0's per-epoch ``scheduler.step()``.
    ``per_step=True`` is the named variant that moves the cosine every iteration (fractional epochs).
    """

    lr: float = 0.1
    lr_min: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float | None = None
    per_step: bool = False  # False: lr constant within an epoch (AutoDL, quark0); True: updated every iteration
    label_smoothing: float = 0.0

    def make(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.SGD:
        """``foreach`` also on CPU (torch's default only on CUDA): the same per-tensor arithmetic, bit for bit, in
        one C++ loop instead of a Python one (about 2x faster a step for the small supernets' ~100 tensors)."""
        return torch.optim.SGD(
            params,
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
            foreach=True,
        )

    def lr_at(self, progress: float, total: int) -> float:
        """Cosine from ``lr`` to ``lr_min`` over ``total`` epochs; ``progress`` counts epochs (fractional)."""
        t = progress if self.per_step else math.floor(progress)
        return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1 + math.cos(math.pi * t / total))


def darts_sgd() -> SGDConfig:
    """quark0 / A²M / SPOS weight optimizer: SGD 0.025 cosine (per epoch) to 0.001, momentum 0.9, wd 3e-4, clip 5."""
    return SGDConfig(
        lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False, weight_decay=3e-4, grad_clip=5.0, per_step=False
    )


def _split_output(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


def train_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    *,
    hw: Hardware,
    num_batches: int,
    set_lr: Callable[[float], float] | None = None,
    grad_clip: float | None = None,
    aux_weight: float = 0.0,
    label_smoothing: float = 0.0,
    forward: Forward | None = None,
    reporter: Reporter | None = None,
    where: str = "training",
    before_batch: BatchHook | None = None,
    after_batch: BatchHook | None = None,
) -> dict[str, float]:
    """One pass of SGD over ``batches``; ``forward(model, x)`` lets callers pick a path or mixture.

    ``before_batch`` runs after the lr is set and before the forward, ``after_batch`` after the optimizer step:
    the differentiable search puts its α step there (docs/methods.md#the-differentiable-harness).
    """
    model.train()
    forward = forward or (lambda m, x: m(x))
    reporter = reporter or Reporter()
    loss_sum = torch.zeros((), device=hw.torch_device)
    correct = torch.zeros((), device=hw.torch_device, dtype=torch.long)
    params = list(model.parameters()) if distributed.world_size() > 1 else []
    seen, reported, reported_batches, steps, t0 = 0, 0, 0, 0, time.perf_counter()
    for i, (x, y) in enumerate(batches):
        steps += 1
        if set_lr is not None:
            lr = set_lr(i / num_batches)
            for g in optimizer.param_groups:
                g["lr"] = lr
        if before_batch is not None:
            before_batch(i, (x, y))
        with hw.autocast():
            logits, aux = _split_output(forward(model, x))
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
            if aux is not None and aux_weight > 0:
                loss = loss + aux_weight * F.cross_entropy(aux, y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if params:
            distributed.all_reduce_grads(params)  # global-batch gradient across ranks
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if after_batch is not None:
            after_batch(i, (x, y))
        loss_sum += loss.detach() * y.numel()
        correct += (logits.detach().argmax(1) == y).sum()
        seen += y.numel()
        if i % 20 == 0 or i == num_batches - 1:  # one host sync every 20 steps keeps GPU queues full
            check_finite(loss.detach(), f"{where}, batch {i + 1}")
            reporter.batch(i + 1 - reported_batches, seen - reported, float(loss_sum) / seen, float(correct) / seen)
            reported, reported_batches = seen, i + 1
    check_finite(loss_sum, where)
    return _epoch_stats(loss_sum, correct, seen, steps, time.perf_counter() - t0)


def _epoch_stats(
    loss_sum: torch.Tensor, correct: torch.Tensor, seen: int, steps: int, elapsed: float
) -> dict[str, float]:
    """Mean loss and accuracy over the global batch (all-reduced across ranks), images/s and seconds/iteration."""
    totals = torch.stack([loss_sum.double(), correct.double(), torch.tensor(float(seen), device=loss_sum.device)])
    distributed.all_reduce_mean([totals])  # epoch statistics over the global batch (no-op in one process)
    loss_total, correct_total, seen_total = totals.tolist()
    return {
        "loss": loss_total / max(seen_total, 1),
        "acc": correct_total / max(seen_total, 1),
        "images_per_s": seen_total * distributed.world_size() / elapsed,
        "iter_s": elapsed / max(steps, 1),  # wall seconds per iteration (for a search: α step + weight step)
    }


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Iterable[Batch], *, hw: Hardware, forward: Forward | None = None
) -> dict[str, float]:
    """Mean cross-entropy and top-1 accuracy in eval mode."""
    model.eval()
    forward = forward or (lambda m, x: m(x))
    loss_sum = torch.zeros((), device=hw.torch_device, dtype=torch.float64)
    correct = torch.zeros((), device=hw.torch_device, dtype=torch.long)
    seen = 0
    for x, y in batches:
        with hw.autocast():
            logits, _ = _split_output(forward(model, x))
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum()
        seen += y.numel()
    return {"loss": float(loss_sum) / max(seen, 1), "acc": float(correct) / max(seen, 1)}


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[Batch], *, hw: Hardware, forward: Forward) -> None:
    """SPOS/GeNAS BN recalibration: reset running stats, then forward in train mode (momentum unchanged)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            m.reset_running_stats()
    model.train()
    for x, _ in batches:
        with hw.autocast():
            forward(model, x)


class SupernetTrainer:
    """SPOS: train the supernet with one uniformly sampled path per iteration (the space's sampling rule)."""

    name = "supernet"

    def __init__(
        self,
        ctx: Any,
        *,
        epochs: int = 250,
        batch_size: int = 64,
        affine: bool = True,
        optim: SGDConfig | None = None,
        **supernet_options: Any,
    ) -> None:
        self.ctx, self.total_steps, self.batch_size = ctx, epochs, batch_size
        self.optim = optim or darts_sgd()
        self.supernet = ctx.build_supernet(affine=affine, **supernet_options)
        self.init_state = {k: v.detach().clone() for k, v in self.supernet.state_dict().items()}  # ABS angle
        self.optimizer = self.optim.make(self.supernet.parameters())
        self.rng = np.random.default_rng(ctx.stream(Purpose.SPOS_PATHS))
        self.loader = ctx.loader("search_train", batch_size, train=True, seed=ctx.stream(Purpose.SUPERNET_DATA))

    def run_step(self, step: int) -> dict[str, Any]:
        space, hw = self.ctx.space, self.ctx.hardware
        self.ctx.reporter.start_epoch(self.name, step, self.total_steps, len(self.loader))
        stats = train_epoch(
            self.supernet,
            self.loader,
            self.optimizer,
            hw=hw,
            num_batches=len(self.loader),
            set_lr=lambda f: self.optim.lr_at(step + f, self.total_steps),
            grad_clip=self.optim.grad_clip,
            # every rank draws (keeping its generator in step) and runs rank 0's path
            forward=lambda m, x: m(x, distributed.broadcast_object(space.sample(self.rng))),
            reporter=self.ctx.reporter,
            where=f"supernet training epoch {step + 1}",
        )
        self.ctx.reporter.end_epoch()
        return {**stats, "lr": self.optimizer.param_groups[0]["lr"]}

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.supernet.state_dict(),
            "init": self.init_state,
            "optimizer": self.optimizer.state_dict(),
            "rng": numpy_rng_state(self.rng),
            "loader": self.loader.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.supernet.load_state_dict(state["model"])
        self.init_state = state["init"]
        self.optimizer.load_state_dict(state["optimizer"])
        set_numpy_rng_state(self.rng, state["rng"])
        self.loader.generator.set_state(state["loader"])


@dataclass(frozen=True)
class RetrainConfig:
    """Train-from-scratch protocol; defaults are NB201's (200 epochs, batch 256, SGD Nesterov, cosine to 0)."""

    enabled: bool = True
    epochs: int = 200
    batch_size: int = 256
    optim: SGDConfig = SGDConfig()
    aux_weight: float = 0.0
    drop_path_prob: float = 0.0  # ramped linearly from 0 over the epochs (DARTS)
    cutout: int = 0
    eval_every: int = 0  # evaluate the test set every k epochs (0: only after the last)
    network: dict[str, Any] | None = None  # options for space.network (channels, cells, auxiliary, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Retrainer:
    """Train the derived architecture from scratch on the full training set; evaluate on the test set."""

    name = "retrain"

    def __init__(self, ctx: Any, arch: Any, cfg: RetrainConfig) -> None:
        self.ctx, self.arch, self.cfg = ctx, arch, cfg
        self.total_steps = cfg.epochs
        self.model = ctx.build_network(arch, **(cfg.network or {}))
        # a standalone network is a fixed graph, so hardware.compile applies here (not to supernets)
        self.compiled = ctx.hardware.maybe_compile(self.model)
        self.optimizer = cfg.optim.make(self.model.parameters())
        self.loader = ctx.loader(
            "train", cfg.batch_size, train=True, seed=ctx.stream(Purpose.RETRAIN_DATA), cutout=cfg.cutout
        )
        self.history: list[dict[str, float]] = []

    def run_step(self, step: int) -> dict[str, Any]:
        cfg, hw, reporter = self.cfg, self.ctx.hardware, self.ctx.reporter
        if hasattr(self.model, "drop_path_prob"):
            self.model.drop_path_prob = cfg.drop_path_prob * step / cfg.epochs
        reporter.start_epoch(self.name, step, cfg.epochs, len(self.loader))
        # drop-path draws from torch's global generator: a stream per epoch makes it reproducible and resumable
        with rng_fork(self.ctx.stream(Purpose.RETRAIN_DROP_PATH, step)):
            stats = train_epoch(
                self.model,
                self.loader,
                self.optimizer,
                hw=hw,
                num_batches=len(self.loader),
                set_lr=lambda f: cfg.optim.lr_at(step + f, cfg.epochs),
                grad_clip=cfg.optim.grad_clip,
                aux_weight=cfg.aux_weight,
                label_smoothing=cfg.optim.label_smoothing,
                forward=lambda _m, x: self.compiled(x),
                reporter=reporter,
                where=f"retraining epoch {step + 1}",
            )
        reporter.end_epoch()
        metrics: dict[str, Any] = {
            "train_loss": stats["loss"],
            "train_acc": stats["acc"],
            "images_per_s": stats["images_per_s"],
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        last = step + 1 == cfg.epochs
        if last or (cfg.eval_every and (step + 1) % cfg.eval_every == 0):
            test = evaluate(
                self.model, self.ctx.loader("test", 512, train=False), hw=hw, forward=lambda _m, x: self.compiled(x)
            )
            metrics.update(test_loss=test["loss"], test_acc=test["acc"])
        self.history.append(metrics)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "loader": self.loader.generator.get_state(),
            "history": self.history,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.loader.generator.set_state(state["loader"])
        self.history = list(state["history"])
