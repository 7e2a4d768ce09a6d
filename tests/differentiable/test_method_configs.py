"""PC-DARTS, GDAS, DrNAS, MiLeNAS and DARTS-PT configs carry the official values of each space (docs/methods.md)."""

from __future__ import annotations

import functools
import inspect

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

import nasflat.cli  # noqa: F401  (registers the run-id resolver)
from nasflat.algorithms.differentiable.darts_pt import DartsPT
from nasflat.algorithms.differentiable.objectives import MixedLevel
from nasflat.algorithms.differentiable.relaxations.dirichlet import Dirichlet
from nasflat.algorithms.differentiable.relaxations.gumbel import Gumbel
from nasflat.algorithms.differentiable.relaxations.partial_channel import PartialChannel


@pytest.fixture(scope="module", autouse=True)
def hydra_init():
    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        yield


def algo(*overrides: str) -> dict:
    cfg = compose("search", overrides=list(overrides))
    OmegaConf.resolve(cfg)
    return OmegaConf.to_container(cfg.algo)


def harness_values(a: dict) -> tuple:
    o = a["optim"]
    return (
        a["epochs"],
        a["batch_size"],
        o["lr"],
        o["lr_min"],
        o["momentum"],
        o["nesterov"],
        o["weight_decay"],
        o["grad_clip"],
        a["arch_lr"],
        tuple(a["arch_betas"]),
        a["arch_weight_decay"],
        a["arch_warmup_epochs"],
        a["order"],
    )


# (epochs, batch, lr, lr_min, momentum, nesterov, wd, clip, α lr, α betas, α wd, α warm-up, order) from the official
# code named in conf/algo/<method>.yaml and the fact table of docs/methods.md
OFFICIAL = {
    ("pc_darts", "darts"): (50, 256, 0.1, 0.0, 0.9, False, 3e-4, 5.0, 6e-4, (0.5, 0.999), 1e-3, 15, "alpha_first"),
    ("pc_darts", "nb201"): (50, 64, 0.025, 0.001, 0.9, False, 3e-4, 5.0, 3e-4, (0.5, 0.999), 1e-3, 0, "alpha_first"),
    ("gdas", "darts"): (250, 256, 0.025, 0.001, 0.9, True, 5e-4, 5.0, 3e-4, (0.5, 0.999), 1e-3, 0, "weights_first"),
    ("gdas", "nb201"): (250, 64, 0.025, 0.001, 0.9, True, 5e-4, 5.0, 3e-4, (0.5, 0.999), 1e-3, 0, "weights_first"),
    ("drnas", "darts"): (50, 64, 0.1, 0.0, 0.9, False, 3e-4, 5.0, 6e-4, (0.5, 0.999), 0.0, 10, "alpha_first"),
    ("drnas", "nb201"): (100, 64, 0.025, 0.001, 0.9, False, 3e-4, 5.0, 3e-4, (0.5, 0.999), 0.0, 0, "alpha_first"),
    ("milenas", "darts"): (50, 64, 0.025, 0.001, 0.9, False, 3e-4, 5.0, 3e-4, (0.5, 0.999), 1e-3, 0, "alpha_first"),
    ("milenas", "nb201"): (50, 64, 0.025, 0.001, 0.9, False, 3e-4, 5.0, 3e-4, (0.5, 0.999), 1e-3, 0, "alpha_first"),
}


@pytest.mark.parametrize("method,space", sorted(OFFICIAL))
def test_method_composes_with_the_official_values_of_the_space(method: str, space: str) -> None:
    a = algo(f"algo={method}", f"space={space}")
    assert harness_values(a) == OFFICIAL[method, space]
    factory = instantiate(a)
    assert isinstance(factory, functools.partial)
    inspect.signature(factory.func).bind(None, None, *factory.args, **factory.keywords)


@pytest.mark.parametrize("space,k,edges", [("darts", 4, True), ("nb201", 4, False)])
def test_pc_darts_relaxation_per_space(space: str, k: int, edges: bool) -> None:
    relax = instantiate(algo("algo=pc_darts", f"space={space}")["relaxation"])
    assert isinstance(relax, PartialChannel)
    assert (relax.partial_channels, relax.edge_normalization) == (k, edges)


@pytest.mark.parametrize("space,others", [("darts", False), ("nb201", True)])
def test_gdas_relaxation_per_space(space: str, others: bool) -> None:
    a = algo("algo=gdas", f"space={space}")
    relax = instantiate(a["relaxation"])
    assert isinstance(relax, Gumbel)
    assert (relax.tau_max, relax.tau_min, relax.others_gradient) == (10.0, 0.1, others)
    assert a["eval_augment"] is False  # AutoDL evaluates the plain valid loader


@pytest.mark.parametrize("space,k", [("darts", 6), ("nb201", 1)])
def test_drnas_relaxation_per_space(space: str, k: int) -> None:
    relax = instantiate(algo("algo=drnas", f"space={space}")["relaxation"])
    assert isinstance(relax, Dirichlet)
    assert (relax.reg_type, relax.reg_scale, relax.partial_channels) == ("l2", 1e-3, k)


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_milenas_objective_is_mixed_level_with_lambda_one(space: str) -> None:
    objective = instantiate(algo("algo=milenas", f"space={space}")["objective"])
    assert isinstance(objective, MixedLevel) and objective.terms == (("train", 1.0), ("val", 1.0))


@pytest.mark.parametrize("space,rho", [("darts", 0.1), ("nb201", 0.01)])
def test_any_alpha_gradient_sits_on_the_new_bases(space: str, rho: float) -> None:
    for method in ("pc_darts", "gdas", "drnas", "milenas"):
        a = algo(f"algo={method}", f"space={space}", "algo/arch_grad=a2m")
        assert a["arch_grad"]["rho"] == rho
        assert harness_values(a) == OFFICIAL[method, space]


@pytest.mark.parametrize("space,inputs,tail", [("darts", 2, 1), ("nb201", None, 0)])
def test_darts_pt_selection_per_space(space: str, inputs: int | None, tail: int) -> None:
    a = algo("algo=darts", f"space={space}", "algo/selection=darts_pt")
    rule = instantiate(a["selection"])
    assert isinstance(rule, DartsPT)
    assert (rule.proj_intv, rule.crit, rule.edge_order) == (5, "acc", "random")
    assert (rule.topology_inputs, rule.tail_epochs, rule.tune_lr_scale, rule.tune_alpha) == (inputs, tail, 0.1, True)
    space_obj = instantiate(compose("search", overrides=[f"space={space}"]).space)
    # darts-pt's schedules: NB201 25 tuning epochs (6 rounds); DARTS space 81 (14 op + 3 topology rounds)
    assert rule.extra_steps(space_obj) == {"nb201": 25, "darts": 81}[space]
