"""`nasflat <command> key=value ...`: the composition root, the only module that sees Hydra configs.

Each subcommand is a Hydra app (overrides, ``-m`` multirun, ``--cfg job``). The run directory is a function of
the command-line overrides, so rerunning a command resumes it and a requeued cluster job finds its checkpoints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate as _instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from nasflat import distributed

USAGE = """usage: nasflat <command> [key=value ...] [-m] [--cfg job] [--help]

commands:
  search          train the supernet / search, derive the architecture, retrain it, evaluate it
  retrain         train a given architecture from scratch (arch=...) and evaluate it
  info            JSON summary of an architecture (space=... arch=...)
  data check      which dataset files are present or missing and how to obtain them (dataset=...)
  bench import    build the NB201 table from the official NATS-Bench tss files (source=... out=...)
  report          mean ± std table over every results.json under PATH... (not a Hydra app)

Examples:
  nasflat search experiment=demo
  nasflat search space=nb201 dataset=cifar100 algo=rs evaluator=supernet hardware=gpu
  nasflat info space=nb201 arch='|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|'
"""
COMMANDS = {
    "search": "search",
    "retrain": "retrain",
    "info": "info",
    "data check": "data_check",
    "bench import": "bench_import",
}
NON_RESULT_KEYS = (
    "logger",
    "restart",
    "out_root",
    "objective",
)  # do not change results: excluded from the config fingerprint


def _run_id(override_dirname: str) -> str:
    """Directory name for a run: its overrides, made path-safe (hashed when too long for a file name)."""
    name = override_dirname.replace("/", "_") or "default"
    if len(name) > 180:
        name = f"{name[:120]}-{hashlib.sha1(name.encode()).hexdigest()[:12]}"
    return name


OmegaConf.register_new_resolver("nasflat_run_id", _run_id, replace=True)


def instantiate(node: Any, **kwargs: Any) -> Any:
    """Hydra instantiate with plain containers (library code never sees a DictConfig)."""
    return _instantiate(node, _convert_="all", **kwargs)


def _quote_arch(arg: str) -> str:
    """Pass ``arch=...`` verbatim: genotype text has brackets, quotes and commas Hydra's grammar would parse."""
    key, sep, value = arg.partition("=")
    if not sep or key.lstrip("+~") != "arch" or value[:1] in ("'", '"'):
        return arg
    return f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'


def _fail(message: str, code: int = 2) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


def _node(cfg: DictConfig, key: str) -> DictConfig | None:
    """A config group's node, or None when the option means 'off' (an empty node such as logger=none)."""
    node = cfg.get(key)
    return node if node and "_target_" in node else None


def _config_dict(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def _plan(cfg: DictConfig, command: str) -> Any:
    from nasflat.checkpoint import CheckpointStore, config_fingerprint
    from nasflat.pipeline import RunPlan
    from nasflat.tracking import Tracker

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    choices = hc.runtime.choices
    config = _config_dict(cfg)
    fingerprint = config_fingerprint({k: v for k, v in config.items() if k not in NON_RESULT_KEYS})
    store = CheckpointStore(run_dir, fingerprint)
    if cfg.restart and (moved := store.archive()) is not None:
        (run_dir / "results.json").unlink(missing_ok=True)
        Console(stderr=True).log(f"restart=true: previous checkpoints moved to {moved}")

    hardware = instantiate(cfg.hardware)
    if hardware.distributed and distributed.init_from_env(hardware.device) and hardware.device == "cuda":
        hardware = dataclasses.replace(hardware, device=f"cuda:{os.environ.get('LOCAL_RANK', '0')}")
    hardware.setup()
    space = instantiate(cfg.space)
    table = _table(cfg)
    logger = _node(cfg, "logger")
    wandb = None
    if logger is not None:
        group = logger.group or (sweep_group(choices) if hc.mode == RunMode.MULTIRUN else None)
        wandb = instantiate(logger, job_type=logger.job_type or command, group=group)
    tracker = Tracker(run_dir=run_dir, config=config, wandb=wandb, enabled=distributed.is_main())
    retrain = instantiate(cfg.retrain)
    plan = RunPlan(
        space=space,
        space_name=choices["space"],
        data=instantiate(cfg.dataset),
        seed=int(cfg.seed),
        run_dir=run_dir,
        hardware=hardware,
        tracker=tracker,
        store=store,
        config=config,
        table=table,
        retrain=retrain if retrain.enabled else None,
    )
    if command == "search":
        plan.algo_name, plan.algo = choices["algo"], instantiate(cfg.algo)
        plan.evaluator_name = choices.get("evaluator")
        plan.evaluator = instantiate(cfg.evaluator) if _node(cfg, "evaluator") is not None else None
        plan.supernet_trainer = instantiate(cfg.supernet)
        plan.supernet_options = dict(cfg.search_net)
    else:
        plan.arch = space.parse(str(cfg.arch))
    return plan


def sweep_group(choices: dict[str, Any]) -> str:
    """W&B group of a sweep job: its (space, dataset, algo), so the seeds of one table cell share a group and W&B
    shows their mean ± std."""
    return "-".join(str(choices[k]) for k in ("space", "dataset", "algo") if choices.get(k) is not None)


def _table(cfg: DictConfig) -> Any:
    path = cfg.get("benchmark", {}).get("nb201_table")
    if not path:
        return None
    from nasflat.benchmarks.nb201 import NB201Table

    return NB201Table.load(path)


def objective_value(results: dict[str, Any], key: str) -> float:
    """The number at dotted ``key`` of results.json (what a Hydra sweeper such as Optuna optimizes)."""
    node: Any = results
    for i, part in enumerate(key.split(".")):
        if not isinstance(node, dict) or part not in node:
            here = ".".join(key.split(".")[:i]) or "results.json"
            options = ", ".join(sorted(node)) if isinstance(node, dict) else f"a {type(node).__name__}"
            raise ValueError(f"objective={key}: {here} has no key {part!r} (it has: {options})")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise ValueError(f"objective={key} is {node!r}, not a number")
    return float(node)


def _pipeline_task(command: str) -> Callable[[DictConfig], float | None]:
    def task(cfg: DictConfig) -> float | None:
        from nasflat.pipeline import run

        hc = HydraConfig.get()
        sweeper = str(hc.sweeper.get("_target_", ""))
        # every sweeper but Hydra's basic one (Optuna, Nevergrad, Ax...) optimizes the number each trial returns
        if hc.mode == RunMode.MULTIRUN and not sweeper.endswith(".BasicSweeper") and not cfg.get("objective"):
            raise ValueError(
                f"the sweeper {sweeper.rsplit('.', 1)[-1]} needs a number from each trial: set "
                "objective=<results.json key>, e.g. objective=benchmark.cifar10.valid (never a test accuracy)"
            )
        plan = _plan(cfg, command)
        code = 1
        try:
            results = run(plan)
            code = 0
        finally:
            plan.tracker.finish(exit_code=code)
        key = cfg.get("objective")
        return objective_value(results, str(key)) if key else None

    return task


def info_task(cfg: DictConfig) -> None:
    from nasflat.info import describe

    space = instantiate(cfg.space)
    arch = space.parse(str(cfg.arch))
    print(json.dumps(describe(space, arch, _table(cfg)), indent=2))


def data_check_task(cfg: DictConfig) -> None:
    from nasflat.data import check_dataset

    spec = instantiate(cfg.dataset)
    report = check_dataset(spec.name, spec.root)
    print(report.to_text())
    if not report.ok:
        sys.exit(1)


def bench_import_task(cfg: DictConfig) -> None:
    from nasflat.benchmarks.nb201 import import_from_nats

    out = import_from_nats(str(cfg.source), str(cfg.out))
    print(f"wrote {out}")


TASKS: dict[str, Callable[[DictConfig], Any]] = {
    "search": _pipeline_task("search"),
    "retrain": _pipeline_task("retrain"),
    "info": info_task,
    "data_check": data_check_task,
    "bench_import": bench_import_task,
}


def _known_errors() -> tuple[type[BaseException], ...]:
    from nasflat.checkpoint import CheckpointError
    from nasflat.phases import NonFiniteLossError
    from nasflat.spaces.base import ArchFormatError

    errors: list[type[BaseException]] = [
        ArchFormatError,
        CheckpointError,
        NonFiniteLossError,
        FileNotFoundError,
        ValueError,
    ]
    try:
        from nasflat.data import DatasetNotFoundError, UnsafePickleError

        errors += [DatasetNotFoundError, UnsafePickleError]
    except ImportError:  # pragma: no cover - data layer always present in releases
        pass
    return tuple(errors)


def _guarded(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Known, user-fixable errors print one readable message (no traceback) and exit with status 1."""

    def run(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except _known_errors() as e:
            _fail(f"{type(e).__name__}: {e}", code=1)

    return run


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: pop the subcommand, hand the rest to Hydra."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    if args[0] == "report":
        from nasflat.report import main as report_main

        report_main(args[1:])
        return
    words = 2 if args[0] in ("data", "bench") else 1
    command = " ".join(args[:words])
    if command not in COMMANDS:
        _fail(f"unknown command {command!r}; expected one of: {', '.join([*COMMANDS, 'report'])}\n\n{USAGE}")
    name = COMMANDS[command]
    sys.argv = [f"nasflat {command}", *(_quote_arch(a) for a in args[words:])]
    hydra.main(version_base="1.3", config_path="pkg://nasflat.conf", config_name=name)(_guarded(TASKS[name]))()


if __name__ == "__main__":
    main()
