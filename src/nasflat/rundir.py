"""A run directory holds exactly one configuration, worked on by exactly one process.

``run.json`` records the run's identity: the result-relevant resolved config plus the identity (path, size,
mtime) of every file the results depend on (dataset files, split files, the NB201 table). Every later command
that lands in the same directory is compared against it before any work, finished runs included, so a
``results.json`` can never be the answer to another config. An OS lock (``flock``) on ``.lock`` makes a second
process on the same directory stop at once; the kernel drops it when its holder dies, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

IDENTITY = "run.json"
LOCK = ".lock"


class RunDirError(ValueError):
    """The run directory belongs to another configuration (or is unreadable); the message says what to do."""


class RunDirBusyError(RuntimeError):
    """Another live process holds the run directory."""


def file_identity(path: str | Path) -> dict[str, Any]:
    """Path, size and mtime of a file: cheap, and changes whenever the file is replaced or rewritten."""
    p = Path(path).expanduser()
    if not p.is_file():
        return {"path": str(p.resolve()), "missing": True}
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass(frozen=True)
class RunIdentity:
    """What a run's results are a function of."""

    config: dict[str, Any]
    files: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "config": self.config, "files": self.files}

    @property
    def fingerprint(self) -> str:
        text = json.dumps({"config": self.config, "files": self.files}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: node}


def differences(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 12) -> list[str]:
    """``key: old -> new`` for every differing dotted key (missing keys shown as <absent>)."""
    a, b = _flatten(old), _flatten(new)
    rows = []
    for key in sorted(a.keys() | b.keys()):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            rows.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return rows[:limit] + ([f"... and {len(rows) - limit} more"] if len(rows) > limit else [])


def file_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per data file that moved, changed, appeared or disappeared since the run started."""
    rows = []
    for role in sorted(old.keys() | new.keys()):
        a, b = old.get(role), new.get(role)
        if a == b:
            continue
        if a is None or b is None:
            rows.append(
                f"file {role}: {'<absent>' if a is None else a['path']} -> {'<absent>' if b is None else b['path']}"
            )
        elif a["path"] != b["path"]:
            rows.append(f"file {role}: {a['path']} -> {b['path']}")
        else:
            rows.append(
                f"file {role} ({a['path']}) changed since the run started: size {a.get('size')} -> "
                f"{b.get('size')}, modified {a.get('mtime_ns')} -> {b.get('mtime_ns')} ns"
            )
    return rows


def _read_identity(run_dir: Path) -> dict[str, Any] | None:
    """The stored identity; a finished run from before run.json existed is identified by its results.json."""
    path = run_dir / IDENTITY
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise RunDirError(
                f"{path} is unreadable ({e}); this run directory's identity is unknown. "
                "Rerun with restart=true to start it over, or use another out_root= / hydra.run.dir=."
            ) from e
        return {"config": stored.get("config"), "files": stored.get("files", {})}
    results = run_dir / "results.json"
    if results.exists():
        with contextlib.suppress(OSError, ValueError):
            return {"config": json.loads(results.read_text()).get("config"), "files": None}
    return None


def claim(run_dir: str | Path, identity: RunIdentity) -> None:
    """Refuse ``run_dir`` if it belongs to another configuration; otherwise record ``identity`` in it.

    Call with the lock held. A directory with no identity and no results is new (or a crashed run from before
    identities existed, whose checkpoints are still checked by their own fingerprint).
    """
    run_dir = Path(run_dir)
    stored = _read_identity(run_dir)
    if stored is not None:
        rows = differences({"config": stored["config"]}, {"config": identity.config})
        if stored["files"] is not None:
            rows += file_changes(stored["files"], identity.files)
        if rows:
            listing = "\n  ".join(rows)
            raise RunDirError(
                f"{run_dir} holds a run of a different configuration; refusing to resume or report it as this "
                f"one. Differences (stored -> now):\n  {listing}\n"
                "To keep both, give this run its own directory (out_root=DIR or hydra.run.dir=DIR); to discard the "
                "old run, rerun with restart=true (its files are moved aside, not deleted)."
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / IDENTITY, json.dumps(identity.to_dict(), indent=2, default=str))


class DiskFullError(RuntimeError):
    """A write failed for lack of space; its temp file is removed and the previous file kept."""


def replace_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """``write`` a per-process temp file, then rename it over ``path``.

    A kill mid-write leaves the previous file intact, two writers never share a temp file, and a full disk
    (``ENOSPC``, or torch's zip writer failing) becomes one :class:`DiskFullError` naming the path and the free space.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        free = shutil.disk_usage(path.parent).free
        if getattr(e, "errno", None) == errno.ENOSPC or "write failed" in str(e) or free < (16 << 20):
            raise DiskFullError(
                f"could not write {path}: no space left ({free / 2**20:.1f} MiB free on its filesystem). "
                "Earlier checkpoints are kept; free some space (or point out_root= elsewhere) and rerun the same "
                "command to resume."
            ) from e
        raise
    finally:
        tmp.unlink(missing_ok=True)  # also on KeyboardInterrupt; a no-op after the rename


def write_atomic(path: Path, text: str) -> None:
    replace_atomic(path, lambda tmp: tmp.write_text(text))


def remove_stale_temp(run_dir: str | Path) -> list[Path]:
    """Delete temp files left by killed processes (safe: the caller holds the lock, no one else writes)."""
    removed = []
    for p in Path(run_dir).rglob("*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _holder(f: IO[str]) -> str:
    f.seek(0)
    try:
        info = json.loads(f.read() or "{}")
    except ValueError:
        info = {}
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["since"])) if "since" in info else "?"
    return f"pid {info.get('pid', '?')} on host {info.get('host', '?')} (since {since})"


@contextlib.contextmanager
def exclusive(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block; a second process gets :class:`RunDirBusyError` at once."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirBusyError(
                f"{run_dir} is in use by {_holder(f)}. One process per run directory: wait for it to finish "
                "(rerunning then resumes or reports it), or give this run its own out_root=DIR / hydra.run.dir=DIR."
            ) from None
        try:
            f.seek(0)
            f.truncate()
            f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
            f.flush()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
