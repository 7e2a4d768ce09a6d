"""The cosine schedule: per epoch by default (AutoDL's CosineAnnealingLR without warm-up, quark0), per iteration on
request, checked against the closed form on a tiny retraining run; the shipped protocols use the per-epoch form."""

from __future__ import annotations

import math

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

import nasflat.cli  # noqa: F401  (registers the run-id resolver)
from nasflat.context import DataSpec, SearchContext
from nasflat.spaces.nb201 import NB201Space
from nasflat.train import RetrainConfig, Retrainer, SGDConfig

EPOCHS, BATCHES = 3, 3


def cosine(t: float, total: int, lr: float = 0.1, lr_min: float = 0.0) -> float:
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * t / total)) / 2


def lrs_of_a_tiny_run(per_step: bool) -> list[list[float]]:
    """The lr of every optimizer step of a 3-epoch retraining with 3 batches per epoch."""
    ctx = SearchContext(
        space=NB201Space(), seed=0, data_spec=DataSpec(name="digits", root="", max_train=96, max_test=32)
    )
    optim = SGDConfig(lr=0.1, lr_min=0.0, per_step=per_step)
    cfg = RetrainConfig(epochs=EPOCHS, batch_size=32, optim=optim, network={"C": 2, "N": 1})
    run = Retrainer(ctx, (3, 1, 2, 0, 3, 4), cfg)
    seen: list[float] = []
    step = run.optimizer.step

    def record(*args, **kwargs):
        seen.append(run.optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    run.optimizer.step = record
    for epoch in range(EPOCHS):
        run.run_step(epoch)
    assert len(seen) == EPOCHS * BATCHES
    return [seen[e * BATCHES : (e + 1) * BATCHES] for e in range(EPOCHS)]


def test_default_cosine_is_constant_within_each_epoch():
    lrs = lrs_of_a_tiny_run(per_step=False)
    assert lrs == [[pytest.approx(cosine(e, EPOCHS), rel=1e-12)] * BATCHES for e in range(EPOCHS)]
    assert lrs[0][0] == 0.1 and lrs[1][0] == pytest.approx(0.075) and lrs[2][0] == pytest.approx(0.025)


def test_per_step_cosine_moves_every_iteration():
    lrs = lrs_of_a_tiny_run(per_step=True)
    expected = [[cosine(e + i / BATCHES, EPOCHS) for i in range(BATCHES)] for e in range(EPOCHS)]
    assert lrs == [[pytest.approx(v, rel=1e-12) for v in row] for row in expected]
    assert len({round(v, 12) for row in lrs for v in row}) == EPOCHS * BATCHES


def test_shipped_nb201_protocols_step_the_cosine_per_epoch():
    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        cfg = compose("search", overrides=["retrain=nb201", "evaluator=train"])
        variant = compose("search", overrides=["retrain=nb201", "retrain.optim.per_step=true"])
    assert instantiate(cfg.retrain).optim.per_step is False
    assert instantiate(cfg.evaluator.optim).per_step is False
    assert SGDConfig().per_step is False
    assert instantiate(variant.retrain).optim.per_step is True
