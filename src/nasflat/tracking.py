"""Console (rich progress), ``metrics.jsonl`` and W&B logging; everything here is a no-op off rank 0.

Library loops report through :class:`Reporter` (``start_epoch`` / ``batch``) so they never import rich or wandb.
"""

from __future__ import annotations

import json
import netrc
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


class Reporter:
    """Per-batch progress sink used inside training/scoring loops (the base class ignores everything)."""

    def start_epoch(self, phase: str, epoch: int, epochs: int, batches: int) -> None:
        pass

    def batch(self, batches: int, images: int, loss: float | None = None, acc: float | None = None) -> None:
        pass

    def end_epoch(self) -> None:
        pass


WANDB_MODES: tuple[str, ...] = ("online", "offline", "disabled", "dryrun")
WANDB_HOST = "api.wandb.ai"


class WandbSetupError(ValueError):
    """W&B cannot log as configured (unknown mode, or online without credentials); raised before any work."""


@dataclass(frozen=True)
class WandbSettings:
    """W&B run identity; ``mode`` None means: WANDB_MODE from the environment, else online only with credentials.

    ``init_timeout``: seconds an online ``wandb.init`` may wait for the server before the run falls back to
    offline logging (wandb's own default, 90 s, plus its grace period, blocks a run for ~100 s when offline).
    """

    project: str = "nasflat"
    entity: str | None = None
    group: str | None = None
    job_type: str | None = None
    tags: tuple[str, ...] = ()
    mode: str | None = None
    log_weights: bool = True
    init_timeout: float = 30.0


def _env_mode() -> str | None:
    """WANDB_MODE, with an empty value counted as unset (wandb itself rejects it with a pydantic error)."""
    return os.environ.get("WANDB_MODE") or None


def _netrc_path() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc").expanduser()


def _wandb_host() -> str:
    return urlparse(os.environ.get("WANDB_BASE_URL") or f"https://{WANDB_HOST}").hostname or WANDB_HOST


def has_wandb_credentials() -> bool:
    """An API key in WANDB_API_KEY or a netrc entry for the W&B host (where `wandb login` stores it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host, path = _wandb_host(), _netrc_path()
    if not path.is_file():
        return False
    try:
        return netrc.netrc(str(path)).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return host in path.read_text(errors="replace")


def resolve_wandb_mode(explicit: str | None) -> str:
    """The mode a run logs in: ``explicit`` (logger.mode), else WANDB_MODE, else online only with credentials."""
    for source, value in (("WANDB_MODE", _env_mode()), ("logger.mode", explicit)):
        if value is not None and value not in WANDB_MODES:
            raise WandbSetupError(
                f"{source}={value!r} is not a W&B mode; use online, offline or disabled (or leave WANDB_MODE unset: "
                "online when W&B credentials exist, otherwise offline)"
            )
    mode = explicit or _env_mode()
    if mode is None:
        return "online" if has_wandb_credentials() else "offline"
    return mode


def check_wandb(settings: WandbSettings | None) -> str | None:
    """Refuse, before any training, a W&B setup that cannot log; returns the mode the run will use.

    Online without credentials is refused rather than silently downgraded: a result must not lose its online log
    unnoticed. (Credentials but no network is only found out by trying; the Tracker then falls back to offline.)
    """
    if settings is None:
        return None
    timeout = settings.init_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise WandbSetupError(f"logger.init_timeout={settings.init_timeout!r}: expected seconds > 0, e.g. 30")
    mode = resolve_wandb_mode(settings.mode)
    if mode == "online" and not has_wandb_credentials():
        source = "logger.mode=online" if settings.mode else "WANDB_MODE=online"
        raise WandbSetupError(
            f"{source} but no W&B API key was found (WANDB_API_KEY is unset and {_netrc_path()} has no entry for "
            f"{_wandb_host()}). Run `wandb login` (or set WANDB_API_KEY), or log locally with WANDB_MODE=offline "
            "(upload later with `wandb sync`), or turn W&B off with WANDB_MODE=disabled or logger=none."
        )
    return mode


@dataclass
class Tracker(Reporter):
    """Rank-0 sink for progress, per-epoch metrics, artifacts and the final summary."""

    run_dir: Path
    config: dict[str, Any]
    wandb: WandbSettings | None = None
    enabled: bool = True  # False on ranks > 0
    console: Console = field(default_factory=lambda: Console(stderr=True, log_path=False))
    _run: Any = None
    _progress: Progress | None = None
    _task: Any = None
    _t0: float = 0.0
    _images: int = 0

    def __post_init__(self) -> None:
        if not self.enabled:
            self.console.quiet = True  # ranks > 0 print nothing
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.wandb is not None:
            self._run = self._start_wandb(self.wandb)

    # ---- W&B ------------------------------------------------------------------------------------------------
    def _start_wandb(self, s: WandbSettings) -> Any:
        mode = check_wandb(s)
        if mode == "disabled":
            return None
        if "WANDB_MODE" in os.environ and not os.environ["WANDB_MODE"]:
            del os.environ["WANDB_MODE"]  # empty counts as unset; wandb would reject it while reading the env
        import wandb  # heavy import, only when used

        id_file = self.run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
        id_file.write_text(run_id)
        kwargs = {
            "project": s.project,
            "entity": s.entity,
            "group": s.group,
            "job_type": s.job_type,
            "tags": list(s.tags),
            "config": self.config,
            "dir": str(self.run_dir),
            "id": run_id,
            "resume": "allow",
        }
        if mode != "online":
            return wandb.init(**kwargs, mode=mode)
        try:
            return wandb.init(**kwargs, mode=mode, settings=wandb.Settings(init_timeout=s.init_timeout))
        except (wandb.errors.CommError, TimeoutError) as e:  # credentials but no server: keep the log locally
            wandb.teardown()  # the failed online run still holds its id in the wandb service
            run = wandb.init(**kwargs, mode="offline")
            where = getattr(getattr(run, "settings", None), "sync_dir", None) or self.run_dir / "wandb"
            self.console.print(
                f"[yellow]warning:[/] W&B server not reachable within {s.init_timeout:g} s "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no reply'}); logging offline to "
                f"{where}; upload it later with `wandb sync {where}`",
                soft_wrap=True,
                highlight=False,
            )
            return run

    # ---- progress ----------------------------------------------------------------------------------------------
    def start_epoch(self, phase: str, epoch: int, epochs: int, batches: int) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        desc = f"{phase} {epoch + 1}/{epochs}"
        self._task = self._progress.add_task(desc, total=batches, stats="")
        self._t0, self._images = time.perf_counter(), 0

    def batch(self, batches: int, images: int, loss: float | None = None, acc: float | None = None) -> None:
        if not self.enabled or self._progress is None or self._task is None:
            return
        self._images += images
        rate = self._images / max(time.perf_counter() - self._t0, 1e-9)
        parts = [f"loss {loss:.3f}" if loss is not None else "", f"acc {acc:.3f}" if acc is not None else ""]
        parts.append(f"{rate:,.0f} img/s")
        self._progress.update(self._task, advance=batches, stats="  ".join(p for p in parts if p))

    def end_epoch(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None

    def close_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # ---- metrics -------------------------------------------------------------------------------------------
    def log(self, phase: str, step: int, metrics: dict[str, Any]) -> None:
        """One record per completed epoch/step of a phase: console line, metrics.jsonl and W&B."""
        if not self.enabled:
            return
        record = {"phase": phase, "step": step, "time": time.time(), **metrics}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record, default=str) + "\n")
        scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        text = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in scalars.items())
        self.console.log(f"[bold]{phase}[/] {step + 1}: {text}")
        if self._run is not None:
            payload: dict[str, Any] = {f"{phase}/{k}": v for k, v in scalars.items()}
            payload.update({f"{phase}/{k}": v for k, v in metrics.items() if isinstance(v, str)})
            for k, v in metrics.items():  # matrices (e.g. softmax(alpha) per edge) become W&B tables
                if isinstance(v, list) and v and isinstance(v[0], list):
                    import wandb

                    payload[f"{phase}/{k}"] = wandb.Table(columns=[str(i) for i in range(len(v[0]))], data=v)
            self._run.log({**payload, f"{phase}/step": step})

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        if self.enabled and self._run is not None:
            import wandb

            self._run.log({key: wandb.Table(columns=columns, data=rows)})

    def artifacts(self, name: str, kind: str, files: list[Path]) -> None:
        if not self.enabled or self._run is None:
            return
        import wandb

        art = wandb.Artifact(name, type=kind)
        for f in files:
            if f.exists():
                art.add_file(str(f))
        self._run.log_artifact(art)

    def summary(self, title: str, rows: list[tuple[str, str]]) -> None:
        if not self.enabled:
            return
        self.close_progress()
        table = Table(title=title, show_header=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for k, v in rows:
            table.add_row(k, v)
        self.console.print(table)
        if self._run is not None:
            self._run.summary.update(dict(rows))

    def finish(self, exit_code: int = 0) -> None:
        self.close_progress()
        if self._run is not None:
            self._run.finish(exit_code=exit_code)
            self._run = None
