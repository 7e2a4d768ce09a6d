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
import shutil
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

USAGE = """usage: nasflat <command> [key=value ...] [-m] [--cfg job] [--help]

commands:
  search          train the supernet / search, derive the architecture, retrain it, evaluate it
  retrain         train a given architecture from scratch (arch=...) and evaluate it
  info            JSON summary of an architecture (space=... arch=...)
  data check      which dataset files are present or missing and how to obtain them (dataset=...)
  bench import    build the NB201 table from the official NATS-Bench tss files (source=... out=...)
  analyze landscape   NB201 architecture-space geometry from the table: neighborhoods, clusters, barriers
  analyze evaluators  how well each evaluator ranks NB201 architectures; weight-sharing variance
  analyze weights RUN_DIR  weight-space flatness of a trained network: 1D/2D landscapes, Hessian, GeNAS F
  report          mean ± std table over every results.json under PATH... (not a Hydra app)
  reproduce TABLE a paper's table as a multirun at scale=smoke|cpu|paper, ours next to published (--list)
  list [GROUP]    every config group's options with a one-line description, installed plugins' included
                  (hydra.searchpath=[file://DIR] adds a config directory; not a Hydra app)

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
    "analyze landscape": "analyze_landscape",
    "analyze evaluators": "analyze_evaluators",
    "analyze weights": "analyze_weights",
}
TWO_WORD = ("data", "bench", "analyze")
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
    """Pass ``arch=...`` verbatim: genotype text has brackets, quotes and commas Hydra's grammar would parse (and
    ``run_dir=...``: run directories are named ``key=value``)."""
    key, sep, value = arg.partition("=")
    if not sep or key.lstrip("+~") not in ("arch", "run_dir") or value[:1] in ("'", '"'):
        return arg
    return f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'


def _fail(message: str, code: int = 2) -> None:
    from rich.markup import escape  # messages quote user input and usage text such as `[key=value ...]`

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)
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
    from nasflat import distributed  # torch: imported by the commands that run, not by `nasflat list`

    if hardware.distributed and distributed.init_from_env(hardware.device) and hardware.device == "cuda":
        hardware = dataclasses.replace(hardware, device=f"cuda:{os.environ.get('LOCAL_RANK', '0')}")
    hardware.setup()
    return hardware


def _data_files(cfg: DictConfig) -> dict[str, str]:
    """Files the results depend on besides the config and the dataset's own (``nasflat.data.dataset_identity``):
    NB201 split files, the table."""
    files: dict[str, str] = {}
    ds = cfg.get("dataset") or {}
    if ds.get("split_dir"):  # read when the split is nb201, which may be the algorithm's default
        files.update({f"splits/{p.name}": str(p) for p in sorted(Path(ds.split_dir).glob("*.txt"))})
    if table := cfg.get("benchmark", {}).get("nb201_table"):
        files["nb201_table"] = str(table)
    return files


def run_identity(cfg: DictConfig) -> Any:
    """The resolved result-relevant config plus the identity (path, size, mtime) of its data and table files."""
    from nasflat.data import dataset_identity
    from nasflat.rundir import RunIdentity, file_identity

    config = {k: v for k, v in _config_dict(cfg).items() if k not in NON_RESULT_KEYS}
    files = {k: file_identity(v) for k, v in _data_files(cfg).items()}
    return RunIdentity(config, {**dataset_identity(cfg.get("dataset") or {}), **files})


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
    from nasflat import distributed, rundir
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
    from nasflat import distributed
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
    report = check_dataset(spec.name, spec.root, spec.read_options())
    print(report.to_text())
    if not report.ok:
        sys.exit(1)


def bench_import_task(cfg: DictConfig) -> None:
    from nasflat.benchmarks.nb201 import import_from_nats

    out = import_from_nats(str(cfg.source), str(cfg.out))
    print(f"wrote {out}")


def analyze_landscape_task(cfg: DictConfig) -> None:
    """docs/analysis.md#architecture-space-landscape-analyze-landscape"""
    from nasflat.analysis.landscape_output import main_table, write_all
    from nasflat.analysis.landscape_run import analyze
    from nasflat.benchmarks.nb201 import HOW_TO_GET
    from nasflat.config import validate

    validate(cfg, "analyze landscape")
    settings = instantiate(cfg.landscape)
    if not cfg.benchmark.nb201_table:
        raise FileNotFoundError(
            f"analyze landscape needs the NB201 table: set benchmark.nb201_table=PATH; {HOW_TO_GET}"
        )
    table = _table(cfg)
    results, arrays = analyze(settings, table)
    written = write_all(Path(HydraConfig.get().runtime.output_dir), results, table, arrays)
    print(main_table(results), end="")
    print(f"\n{results['wall_time_s']:.1f} s; wrote " + ", ".join(str(p) for p in written))


def analyze_evaluators_task(cfg: DictConfig) -> None:
    """docs/analysis.md#evaluator-ranking-and-weight-sharing-variance-analyze-evaluators"""
    from nasflat.analysis import evaluators as ev
    from nasflat.analysis.evaluator_files import report
    from nasflat.config import validate
    from nasflat.spaces.nb201.codec import DATASETS

    validate(cfg, "analyze evaluators")
    study: ev.StudyConfig = instantiate(cfg.study)
    node = {k: _config_dict(cfg)[k] for k in ("space", "search_net", "supernet", "dataset")}
    reused = [ev.find_search_supernet(d, node) for d in study.supernet_from]
    options = cfg.evaluator_options
    factories = {name: instantiate(options[name]) for name in study.evaluators if name in options}
    _study_config_errors(cfg, study, factories, [r.seed for r in reused])
    table = _table(cfg)
    if table is None:
        raise ValueError("analyze evaluators needs the NB201 table (the truth): set benchmark.nb201_table=PATH")
    truth_dataset = study.truth_dataset or str(cfg.dataset.name)
    if truth_dataset not in DATASETS:
        raise ValueError(
            f"dataset={truth_dataset} has no NB201 column to rank against: use an NB201 dataset, or set "
            f"study.truth_dataset={'|'.join(DATASETS)} to compare against another dataset's column"
        )
    hardware = _hardware(cfg)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with _owned_run_dir(cfg, run_dir) as store:
        from nasflat import distributed
        from nasflat.tracking import Tracker

        tracker = Tracker(run_dir=run_dir, config=_config_dict(cfg), enabled=distributed.is_main())
        code = 1
        try:
            runner = ev.Study(
                config=study,
                space=instantiate(cfg.space),
                data=instantiate(cfg.dataset),
                table=table,
                arch_seed=int(cfg.seed),
                hardware=hardware,
                store=store,
                tracker=tracker,
                evaluators=factories,
                supernet_factory=instantiate(cfg.supernet),
                supernet_options=dict(cfg.search_net),
                reused=reused,
                truth_dataset=truth_dataset,
            )
            print(report(runner, runner.run(), run_dir))
            code = 0
        finally:
            tracker.finish(exit_code=code)


def _study_config_errors(cfg: DictConfig, study: Any, factories: dict[str, Any], reused_seeds: list[int]) -> None:
    """The study's cross-key problems, reported like the schema's (exit status 2, before any work)."""
    from nasflat.analysis.evaluators import study_problems, uses_supernet
    from nasflat.config import ConfigError
    from nasflat.config.schema import problem

    found = study_problems(
        study, list(cfg.evaluator_options), int(cfg.supernet.epochs), uses_supernet(factories), reused_seeds
    )
    if found:
        raise ConfigError([problem(*p) for p in found], "analyze evaluators")


def analyze_weights_task(cfg: DictConfig) -> None:
    """Weight-space flatness of a run's trained network (or a supernet path): rebuilt from the run's own config."""
    from nasflat.analysis.weights import analyze, subject
    from nasflat.analysis.weights_report import main_rows, markdown_table, write
    from nasflat.analysis.weights_source import locate
    from nasflat.config import validate
    from nasflat.context import SearchContext, official_split

    validate(cfg, "analyze weights")
    source = locate(str(cfg.run_dir), cfg.arch)  # refuses a missing, corrupt or unsuitable file before any work
    run = source.config
    algo = run.get("algo") if source.kind == "supernet" else None  # the search's split: its algorithm's official one
    spec = instantiate(run["dataset"]).with_default_split(official_split(instantiate(algo)) if algo else "random")
    hardware = instantiate(cfg.hardware)
    hardware.setup()
    space = instantiate(run["space"])
    ctx = SearchContext(space=space, seed=int(run.get("seed", 0)), hardware=hardware, data_spec=spec)
    settings = instantiate(cfg.weights)
    result = analyze(subject(source, space, ctx, settings.bn_images), ctx, settings, int(cfg.seed))
    files = write(result, Path(HydraConfig.get().runtime.output_dir))
    print(markdown_table(main_rows(result)))
    print("\n".join(f"wrote {p}" for p in files.values()))


TASKS: dict[str, Callable[[DictConfig], Any]] = {
    "search": _pipeline_task("search"),
    "retrain": _pipeline_task("retrain"),
    "info": info_task,
    "data_check": data_check_task,
    "bench_import": bench_import_task,
    "analyze_landscape": analyze_landscape_task,
    "analyze_evaluators": analyze_evaluators_task,
    "analyze_weights": analyze_weights_task,
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


REQUIRED_VALUES = {
    "source": "source=<the NATS-tss-v1_0-3ffb9-simple directory> (official NATS-Bench topology files)",
    "split": "split=valid|test (the NB201 accuracy column to analyze; there is no default)",
    "run_dir": "nasflat analyze weights RUN_DIR: a run directory with final_model.pt (or supernet checkpoint + arch=)",
}


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


HYDRA_ONLY_FILES = {"cli.log", ".hydra"}


def _drop_unused_output_dir() -> None:
    """A refused config did no work: remove the folder Hydra made for it (an empty ``cli.log``, maybe ``.hydra/``)
    so that a typo leaves no run directory behind. A folder holding anything else is left alone."""
    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        log, names = out / "cli.log", {p.name for p in out.iterdir()}
        made_by_hydra = log.is_file() and log.stat().st_size == 0 and out.resolve() != Path.cwd().resolve()
        if made_by_hydra and names <= HYDRA_ONLY_FILES:
            shutil.rmtree(out)
    except OSError:  # already gone, or not ours to remove: the refusal itself is what matters
        return


def _guarded(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Known, user-fixable errors print one readable message (no traceback) and exit with status 1; a refused
    config (exit status 2, a usage error) did no work, so the folder Hydra made for it is removed."""

    def run(cfg: DictConfig) -> Any:
        try:
            return _run_checked(task, cfg)
        except SystemExit as e:
            if e.code == 2:
                _drop_unused_output_dir()
            raise

    return run


def _run_checked(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """``task(cfg)`` once the composition and the config pass their checks, its known errors said in one line."""
    from nasflat.plugins import PluginError, check_composition

    try:  # every _target_ imports, plugin spaces/evaluators meet their contract, per-space defaults exist
        check_composition(cfg, HydraConfig.get().runtime.choices)
    except PluginError as e:
        _fail(str(e), code=2)
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


def _explain_unknown_keys(config_name: str, command: str, overrides: list[str]) -> None:
    """Hydra's refusal of an override of a key the config lacks becomes nasflat's config error (closest key, what
    is accepted) instead of Hydra's advice to append the key. Hydra reports composition errors itself, in
    ``hydra._internal.utils.run_and_report`` (an internal, stable under the ``hydra-core<1.4`` pin); this wraps it."""
    from hydra._internal import utils as hydra_utils
    from hydra.errors import ConfigCompositionException

    from nasflat.config.unknown_keys import unknown_key_problems

    report = getattr(hydra_utils.run_and_report, "__wrapped__", hydra_utils.run_and_report)

    def explained(func: Callable[[], Any]) -> Any:
        def run() -> Any:
            try:
                return func()
            except ConfigCompositionException as e:
                if lines := unknown_key_problems(e, config_name, overrides, command):
                    Console(stderr=True, soft_wrap=True).print(lines, markup=False, highlight=False)
                    sys.exit(2)
                raise

        return report(run)

    explained.__wrapped__ = report  # type: ignore[attr-defined]
    hydra_utils.run_and_report = explained


HYDRA_VALUE_FLAGS = ("--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir")


def _positional_run_dir(args: list[str]) -> list[str]:
    """``analyze weights RUN_DIR``: the first argument that is neither a flag (or a flag's value) nor a key=value
    override becomes ``run_dir=RUN_DIR``; an existing path counts even with a ``=`` in it (``experiment=demo``)."""
    for i, arg in enumerate(args):
        if arg.startswith("-") or (i > 0 and args[i - 1] in HYDRA_VALUE_FLAGS):
            continue
        if "=" not in arg or os.path.exists(arg):
            return [*args[:i], f"run_dir={arg}", *args[i + 1 :]]
    return args


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
    if args[0] == "reproduce":
        from nasflat.reproduce.command import main as reproduce_main

        reproduce_main(args[1:])
        return
    if args[0] == "list":
        from nasflat.listing import UnknownGroupError, list_command

        try:
            print(list_command(args[1:]), end="")
        except UnknownGroupError as e:
            _fail(str(e), code=2)
        return
    words = 2 if args[0] in TWO_WORD else 1
    command = " ".join(args[:words])
    if command not in COMMANDS:
        known = ", ".join([*COMMANDS, "report", "reproduce", "list"])
        _fail(f"unknown command {command!r}; expected one of: {known}\n\n{USAGE}")
    name = COMMANDS[command]
    rest = _positional_run_dir(args[words:]) if command == "analyze weights" else args[words:]
    sys.argv = [f"nasflat {command}", *(_quote_arch(a) for a in rest)]
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # leave submitit's/SLURM's handler in place
        signal.signal(signal.SIGTERM, _raise_terminated)
    _explain_unknown_keys(name, command, [_quote_arch(a) for a in rest if "=" in a and not a.startswith("-")])
    hydra.main(version_base="1.3", config_path="pkg://nasflat.conf", config_name=name)(_guarded(TASKS[name]))()


if __name__ == "__main__":
    main()
