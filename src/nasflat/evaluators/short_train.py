"""Train each architecture from scratch for a few epochs and score its held-out accuracy.

The honest but expensive proxy (NB201's RS/REA query the benchmark's 12-epoch accuracy; this measures one): for small
budgets, and to check how well the cheap proxies rank. Every architecture gets the same initialisation seed and the
same data order, so the score is a function of the architecture.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from nasflat.evaluators.base import Evaluator
from nasflat.rng import Purpose
from nasflat.spaces.base import Arch
from nasflat.train import SGDConfig, evaluate, train_epoch


class ShortTrainEvaluator(Evaluator):
    """Accuracy on ``val_split`` after ``epochs`` of SGD on ``train_split`` (cosine schedule over those epochs)."""

    name = "train"
    parallel = True

    def __init__(
        self,
        ctx: Any,
        *,
        epochs: int = 12,
        batch_size: int = 256,
        optim: SGDConfig | None = None,
        network: dict[str, Any] | None = None,
        train_split: str = "search_train",
        val_split: str = "search_val",
        max_batches: int | None = None,
        data_seed: int | None = None,
    ) -> None:
        super().__init__(ctx.space)
        if epochs < 1:
            raise ValueError(f"evaluator.epochs must be >= 1, got {epochs}")
        self.ctx, self.epochs, self.batch_size = ctx, epochs, batch_size
        self.optim = optim or SGDConfig()  # NB201's: lr 0.1, Nesterov, wd 5e-4, cosine to 0 stepped per epoch
        self.network = dict(network or {})
        self.train_split, self.val_split, self.max_batches = train_split, val_split, max_batches
        self.data_seed = ctx.stream(Purpose.SHORT_TRAIN_DATA) if data_seed is None else int(data_seed)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.optim.lr,
            "network": self.network,
            "train_split": self.train_split,
            "val_split": self.val_split,
            "max_batches": self.max_batches,
        }

    def train_and_eval(self, arch: Arch) -> float:
        hw = self.ctx.hardware
        model = self.ctx.build_network(arch, Purpose.SHORT_TRAIN_INIT, **self.network)
        opt = self.optim.make(model.parameters())
        loader = self.ctx.loader(self.train_split, self.batch_size, train=True, seed=self.data_seed, shard=False)
        n = len(loader) if self.max_batches is None else min(len(loader), self.max_batches)
        for epoch in range(self.epochs):
            train_epoch(
                model,
                islice(loader, n),
                opt,
                hw=hw,
                num_batches=n,
                set_lr=lambda f, e=epoch: self.optim.lr_at(e + f, self.epochs),
                grad_clip=self.optim.grad_clip,
                label_smoothing=self.optim.label_smoothing,
                where=f"short training of {self.space.format(arch)}, epoch {epoch + 1}",
            )
        return evaluate(model, self.ctx.loader(self.val_split, 512, train=False), hw=hw)["acc"]

    def _score_batch(self, archs: list[Arch]) -> list[float]:
        return [self.train_and_eval(a) for a in archs]
