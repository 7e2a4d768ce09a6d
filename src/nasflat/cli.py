"""`nasflat <command> key=value ...`: the composition root, the only module that sees Hydra configs.

Each subcommand is a Hydra app (overrides, ``-m`` multirun, ``--cfg job``). The run directory is a function of
the command-line overrides, so rerunning a command resumes it and a requeued cluster job finds its checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
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


def _hardware(cfg: DictConfig) -> Any:
    """The run's hardware, with torch.distributed joined first when configured (rank decides who owns the dir)."""
    hardware = instantiate(cfg.hardware)
    if hardware.distributed and distributed.init_from_env(hardware.device) and hardware.device == "cuda":
        hardware = dataclasses.replace(hardware, device=f"cuda:{os.environ.get('LOCAL_RANK', '0')}")
    hardware.setup()
    return hardware


def _data_files(cfg: DictConfig) -> dict[str, str]:
    """Every file the results depend on besides the config: dataset files, NB201 split files, the table."""
    from nasflat.data.sources import SOURCES

    files: dict[str, str] = {}
    ds = cfg.get("dataset") or {}
    if ds.get("name") in SOURCES:
        spec = SOURCES[ds.name]
        directory = spec.directory(ds.root)
        files.update({f"dataset/{f}": str(directory / f) for f in spec.files})
    if ds.get("split_dir"):  # read when the split is nb201, which may be the algorithm's default
        files.update({f"splits/{p.name}": str(p) for p in sorted(Path(ds.split_dir).glob("*.txt"))})
    if table := cfg.get("benchmark", {}).get("nb201_table"):
        files["nb201_table"] = str(table)
    return files


def run_identity(cfg: DictConfig) -> Any:
    """The resolved result-relevant config plus the identity (path, size, mtime) of its data and table files."""
    from nasflat.rundir import RunIdentity, file_identity

    config = {k: v for k, v in _config_dict(cfg).items() if k not in NON_RESULT_KEYS}
    return RunIdentity(config, {k: file_identity(v) for k, v in _data_files(cfg).items()})


def _save_hydra_files(cfg: DictConfig, run_dir: Path) -> None:
    """Hydra's ``.hydra/`` files, written only once this process owns the directory (``output_subdir: null``
    stops Hydra writing them before the lock, where a refused command would overwrite the owner's config)."""
    hc = HydraConfig.get()
    out = run_dir / ".hydra"
    out.mkdir(exist_ok=True)
    OmegaConf.save(cfg, out / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": OmegaConf.to_container(hc)}), out / "hydra.yaml")
    OmegaConf.save(OmegaConf.create(list(hc.overrides.task)), out / "overrides.yaml")


@contextlib.contextmanager
def _owned_run_dir(cfg: DictConfig, run_dir: Path) -> Iterator[Any]:
    """Lock ``run_dir`` (rank 0), apply restart=true, refuse another config's directory; yields the checkpoint
    store. Every check happens before any data is read or any network is built."""
    from nasflat import rundir
    from nasflat.checkpoint import CheckpointStore

    identity = run_identity(cfg)
    store = CheckpointStore(run_dir, identity.fingerprint)
    owner = distributed.is_main()
    with rundir.exclusive(run_dir) if owner else contextlib.nullcontext():
        if owner:
            if cfg.restart and (moved := store.archive()) is not None:
                Console(stderr=True).log(f"restart=true: the previous run's checkpoints and results moved to {moved}")
            rundir.remove_stale_temp(run_dir)
            rundir.claim(run_dir, identity)
            _save_hydra_files(cfg, run_dir)
        distributed.barrier()
        yield store


def _plan(cfg: DictConfig, command: str, hardware: Any, store: Any) -> Any:
    from nasflat.pipeline import RunPlan
    from nasflat.tracking import Tracker

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    choices = hc.runtime.choices
    config = _config_dict(cfg)
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
        from nasflat.config import validate
        from nasflat.pipeline import run

        validate(cfg, command)  # every key, type and range, before any data is read or network built
        hc = HydraConfig.get()
        sweeper = str(hc.sweeper.get("_target_", ""))
        # every sweeper but Hydra's basic one (Optuna, Nevergrad, Ax...) optimizes the number each trial returns
        if hc.mode == RunMode.MULTIRUN and not sweeper.endswith(".BasicSweeper") and not cfg.get("objective"):
            raise ValueError(
                f"the sweeper {sweeper.rsplit('.', 1)[-1]} needs a number from each trial: set "
                "objective=<results.json key>, e.g. objective=benchmark.cifar10.valid (never a test accuracy)"
            )
        if (logger := _node(cfg, "logger")) is not None:  # refuse a W&B setup that cannot log before any work
            from nasflat.tracking import check_wandb

            check_wandb(instantiate(logger))
        hardware = _hardware(cfg)
        with _owned_run_dir(cfg, Path(hc.runtime.output_dir)) as store:
            plan = _plan(cfg, command, hardware, store)
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
    from nasflat.config import validate
    from nasflat.info import describe

    validate(cfg, "info")
    space = instantiate(cfg.space)
    arch = space.parse(str(cfg.arch))
    print(json.dumps(describe(space, arch, _table(cfg)), indent=2))


def data_check_task(cfg: DictConfig) -> None:
    from nasflat.config import validate
    from nasflat.data import check_dataset

    validate(cfg, "data check")
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


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception, so a killed run unwinds like Ctrl-C (temp files removed, one message)."""

    signal_name = "SIGTERM"


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def _interrupt_message(e: KeyboardInterrupt) -> str:
    from nasflat.phases import Interrupted

    if isinstance(e, Interrupted):
        return str(e)
    name = getattr(e, "signal_name", "SIGINT")
    return f"interrupted ({name}) outside a training phase; rerun the same command to resume"


def _known_errors() -> tuple[type[BaseException], ...]:
    from nasflat.checkpoint import CheckpointError
    from nasflat.phases import NonFiniteLossError
    from nasflat.rundir import DiskFullError, RunDirBusyError, RunDirError
    from nasflat.spaces.base import ArchFormatError

    errors: list[type[BaseException]] = [
        ArchFormatError,
        CheckpointError,
        RunDirError,
        RunDirBusyError,
        DiskFullError,
        NonFiniteLossError,
        FileNotFoundError,
        ValueError,
    ]
    try:
        from nasflat.benchmarks.nb201 import MissingPackageError, TableFormatError
        from nasflat.data import DatasetFileError, DatasetNotFoundError, UnsafePickleError
        from nasflat.tracking import WandbSetupError

        errors += [DatasetFileError, DatasetNotFoundError, UnsafePickleError, TableFormatError, MissingPackageError]
        errors += [WandbSetupError]
    except ImportError:  # pragma: no cover - data layer always present in releases
        pass
    return tuple(errors)


REQUIRED_VALUES = {"source": "source=<the NATS-tss-v1_0-3ffb9-simple directory> (official NATS-Bench topology files)"}


def _missing_usage(keys: list[str]) -> str:
    """What each required ``key=`` looks like; arch= is described by the spaces themselves."""
    from nasflat.spaces.base import arch_usage

    lines = [f"missing required value(s): {', '.join(f'{k}=' for k in keys)}"]
    for key in keys:
        if key == "arch":
            lines += ["arch= is the architecture, written in the format of its space (default space=nb201):"]
            lines.append(arch_usage())
        else:
            lines.append(f"  {REQUIRED_VALUES.get(key, f'{key}=<value>')}")
    return "\n".join([*lines, "see `nasflat --help`"])


def _guarded(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Known, user-fixable errors print one readable message (no traceback) and exit with status 1."""

    def run(cfg: DictConfig) -> Any:
        if missing := OmegaConf.missing_keys(cfg):  # e.g. `nasflat retrain` without arch=: usage, not a traceback
            _fail(_missing_usage(sorted(missing)), code=2)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            return task(cfg)
        from nasflat.config import ConfigError

        try:
            return task(cfg)
        except ConfigError as e:  # the config's problems, one line each: a usage error
            Console(stderr=True, soft_wrap=True).print(str(e), markup=False, highlight=False)
            sys.exit(2)
        except _known_errors() as e:
            _fail(f"{type(e).__name__}: {e}", code=1)
        except KeyboardInterrupt as e:
            _fail(_interrupt_message(e), code=143 if getattr(e, "signal_name", "") == "SIGTERM" else 130)

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
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # leave submitit's/SLURM's handler in place
        signal.signal(signal.SIGTERM, _raise_terminated)
    hydra.main(version_base="1.3", config_path="pkg://nasflat.conf", config_name=name)(_guarded(TASKS[name]))()


if __name__ == "__main__":
    main()
