"""Run or resume a reproduce table: one ``nasflat search -m`` multirun per method, through Hydra's launcher.

Each method's runs land in ``<out_root>/reproduce/<table>/<scale>/<method>/<run id>``, so rerunning the same command
resumes every unfinished run from its checkpoints and re-reads the finished ones (the run directory refuses a
different config). Any launcher works (``hydra/launcher=submitit_slurm ...`` is passed through), because the runs
are ordinary ``nasflat search`` jobs. Every method's config is composed and checked before the first run starts.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nasflat.reproduce.tables import SCALES, ReproTable


class ReproduceError(ValueError):
    """Bad input to ``nasflat reproduce``, found before any work; the message says what to do."""


@dataclass(frozen=True)
class Sweep:
    """One method's multirun: its ``nasflat search -m`` overrides and where its runs land."""

    method: str
    overrides: tuple[str, ...]
    directory: Path
    seeds: tuple[int, ...]
    datasets: tuple[str, ...]

    def run_dirs(self) -> list[Path]:
        """Where each (seed, dataset) run of this sweep lives (``SUBDIR``), in sweep order."""
        return [self.directory / f"seed{s}-{d}" for d in self.datasets for s in self.seeds]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "nasflat.cli", "search", "-m", *self.overrides]


# One directory per (seed, dataset): a rerun with other overrides lands in the same directory, which refuses a
# different config (rundir.py) instead of leaving a stale result beside the new one.
SUBDIR = "seed${seed}-${dataset.name}"


def seed_values(seeds: Sequence[int]) -> str:
    """A Hydra sweep over ``seeds``: ``range(a,b)`` when contiguous (short run ids), else a comma list."""
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"range({seeds[0]},{seeds[-1] + 1})"
    return ",".join(str(s) for s in seeds)


def override_value(args: Sequence[str], key: str, default: str | None = None) -> str | None:
    """The value of the first ``key=value`` among ``args`` (``default`` when absent)."""
    return next((a.split("=", 1)[1] for a in args if a.startswith(f"{key}=")), default)


def out_dir(table: ReproTable, scale: str, user: Sequence[str]) -> Path:
    root = override_value(user, "out_root", "outputs")
    return Path(str(root)) / "reproduce" / table.name / scale


def sweeps(table: ReproTable, scale: str, user: Sequence[str], seeds: Sequence[int] | None = None) -> list[Sweep]:
    """The table's multiruns at ``scale``: methods x seeds x search datasets, with the user's overrides last."""
    if scale not in SCALES:
        raise ReproduceError(f"scale={scale}: expected one of {', '.join(SCALES)}")
    s = table.scales[scale]
    datasets, seeds = tuple(s.datasets or table.datasets), tuple(seeds or s.seeds)
    sweep = (f"seed={seed_values(seeds)}", f"dataset={','.join(datasets)}")
    out = out_dir(table, scale, user)
    hydra = (f"hydra.sweep.dir={out}", "hydra.sweep.subdir={}/" + SUBDIR)
    return [
        Sweep(
            m.name,
            (*table.base, *m.overrides, *s.overrides, *user, *sweep, hydra[0], hydra[1].replace("{}", m.name, 1)),
            out / m.name,
            seeds,
            datasets,
        )
        for m in table.methods
    ]


def check_table_file(table: ReproTable, user: Sequence[str]) -> None:
    """Tables whose results are NB201 lookups need the table file: refuse before any work when it is missing."""
    if not table.needs_table:
        return
    given = override_value(user, "benchmark.nb201_table")
    path = given or os.environ.get("NASFLAT_NB201_TABLE")
    if not path or path == "null":
        raise ReproduceError(
            f"table {table.name}: its numbers are NAS-Bench-201 lookups; set benchmark.nb201_table=PATH (the CSV "
            "written by `nasflat bench import`, README: NB201 table) or NASFLAT_NB201_TABLE"
        )
    if not Path(path).expanduser().is_file():
        raise ReproduceError(f"benchmark.nb201_table={path}: no such file; run `nasflat bench import` to write it")


def preflight(sweeps_: Sequence[Sweep]) -> None:
    """Compose and validate every method's config (first seed, each dataset) before the first run starts."""
    from hydra import compose, initialize_config_module

    from nasflat.config.schema import ConfigError, validate
    from nasflat.config.unknown_keys import unknown_key_problems

    with initialize_config_module("nasflat.conf", version_base="1.3"):
        for sw in sweeps_:
            for single in _singles(sw.overrides):
                try:
                    validate(compose("search", overrides=single), "search")
                except ConfigError as e:
                    raise ReproduceError(f"method {sw.method}:\n{e}") from None
                except Exception as e:  # Hydra's composition errors (unknown group option, bad override)
                    if explained := unknown_key_problems(e, "search", single, "search"):
                        raise ReproduceError(f"method {sw.method}:\n{explained}") from None
                    lines = [ln for ln in str(e).splitlines() if ln.strip()][:2]  # Hydra's error and its hint
                    raise ReproduceError(f"method {sw.method}: " + "\n".join(lines)) from None


def _singles(overrides: Sequence[str]) -> list[list[str]]:
    """The sweep's overrides with its first seed and each dataset; Hydra's own (hydra.*, hydra/...) left out."""
    base = [o for o in overrides if not o.startswith(("hydra.", "hydra/", "seed=", "dataset="))]
    seed = next(o for o in overrides if o.startswith("seed=")).split("=", 1)[1]
    first = seed.split(",")[0].removeprefix("range(")
    datasets = next(o for o in overrides if o.startswith("dataset=")).split("=", 1)[1].split(",")
    return [[*base, f"seed={first}", f"dataset={d}"] for d in datasets]


def run(sweeps_: Sequence[Sweep]) -> None:
    """Run each method's multirun in turn; a failed one stops the table (rerun the command to resume)."""
    for sw in sweeps_:
        print(f"reproduce: {sw.method}: {shlex.join(['nasflat', 'search', '-m', *sw.overrides])}", flush=True)
        code = _wait(subprocess.Popen(sw.command()))
        if code != 0:
            raise ReproduceError(
                f"method {sw.method}: its multirun stopped with exit status {code} (its output is above); fix the "
                "cause and rerun the same command: finished runs are kept and unfinished ones resume"
            )


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """The child's exit status; on Ctrl-C the child (same process group) saves its checkpoint and stops: wait for
    it rather than kill it, then stop with one line."""
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.wait()
        raise ReproduceInterrupted("interrupted; rerun the same command to resume (finished runs are kept)") from None


class ReproduceInterrupted(ReproduceError):
    """Ctrl-C or SIGTERM during a multirun."""
