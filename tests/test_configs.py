"""Every option of every config group composes and instantiates; partial factories accept their keywords."""

from __future__ import annotations

import functools
import inspect
from importlib import resources

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

import nasflat.cli  # noqa: F401  (registers the run-id resolver)

PRIMARY = ("search", "retrain", "info", "data_check", "bench_import")
GROUPS = ("space", "dataset", "algo", "evaluator", "retrain", "hardware", "logger", "scale", "experiment", "debug")


def options(group: str) -> list[str]:
    root = resources.files("nasflat.conf") / group
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


# positional arguments the pipeline passes to each factory: algo(ctx, evaluator), evaluator(ctx), supernet(ctx)
FACTORY_ARGS = {"algo": 2, "evaluator": 1, "supernet": 1}


def check_instantiable(node, key: str = "") -> object:
    """Instantiate a group node; for partial factories also check the bound keywords fit the signature."""
    obj = instantiate(node)
    if isinstance(obj, functools.partial):
        extra = {"supernet": None} if getattr(obj.func, "needs_supernet", False) else {}
        inspect.signature(obj.func).bind(*[None] * FACTORY_ARGS[key], *obj.args, **extra, **obj.keywords)
    return obj


@pytest.fixture(scope="module", autouse=True)
def hydra_init():
    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        yield


def test_every_group_has_options():
    for g in GROUPS:
        assert options(g), f"config group {g} is empty"


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_composes_and_instantiates(group):
    for opt in options(group):
        overrides = [f"{group}={opt}"]
        if group == "hardware" and opt in ("gpu", "ddp"):
            cfg = compose("search", overrides=overrides)
            assert cfg.hardware.device == "cuda" and cfg.hardware.bf16 is True
            assert cfg.hardware.distributed is (opt == "ddp")
            continue  # instantiating a CUDA Hardware without a GPU is a (tested) error
        cfg = compose("search", overrides=overrides)
        OmegaConf.resolve(cfg)
        for key in ("space", "dataset", "algo", "evaluator", "retrain", "hardware", "supernet"):
            node = cfg.get(key)
            if node and "_target_" in node:
                check_instantiable(node, key)
        if cfg.get("logger"):
            check_instantiable(cfg.logger)


@pytest.mark.parametrize("primary", PRIMARY)
def test_primary_configs_compose(primary):
    overrides = {"retrain": ["arch=x"], "info": ["arch=x"], "bench_import": ["source=x"]}.get(primary, [])
    cfg = compose(primary, overrides=overrides)
    assert cfg is not None


def test_defaults_follow_nb201_protocol():
    cfg = compose("search")
    r = instantiate(cfg.retrain)
    assert (r.epochs, r.batch_size) == (200, 256)
    assert (r.optim.lr, r.optim.momentum, r.optim.nesterov, r.optim.weight_decay, r.optim.lr_min) == (
        0.1,
        0.9,
        True,
        5e-4,
        0.0,
    )
    assert cfg.space._target_.endswith("NB201Space")
    assert instantiate(cfg.dataset).split_portion == 0.5


def test_gpu_hardware_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    cfg = compose("search", overrides=["hardware=gpu"])
    with pytest.raises(Exception, match="CUDA is not available"):
        instantiate(cfg.hardware)


def test_float64_hardware_casts_models_and_rejects_bf16():
    import torch

    from nasflat.hardware import Hardware

    hw = instantiate(compose("search", overrides=["hardware.dtype=float64"]).hardware)
    assert hw.torch_dtype == torch.float64
    assert next(hw.prepare(torch.nn.Linear(2, 2)).parameters()).dtype == torch.float64
    with pytest.raises(ValueError, match="incompatible"):
        Hardware(dtype="float64", bf16=True)
    with pytest.raises(ValueError, match="expected one of float32, float64"):
        Hardware(dtype="float16")


def test_debug_tiny_shrinks_every_phase():
    cfg = compose("search", overrides=["debug=tiny"])
    OmegaConf.resolve(cfg)
    assert cfg.supernet.epochs <= 2 and cfg.retrain.epochs <= 2
    assert cfg.search_net == {"C": 4, "N": 1, "kernel": "grouped"} and cfg.dataset.max_train == 256
