"""Bad input ends in one message that names the file or key and what to do, never a traceback.

Damaged dataset pickles, broken NB201 tables, W&B set up so that it cannot log, a missing ``arch=`` and an
architecture written in the other space's format; each through the library call and through the real CLI.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from helpers import nasflat
from nasflat.benchmarks.nb201 import TableFormatError
from nasflat.data import DatasetFileError, check_dataset, load_dataset
from nasflat.spaces.base import ArchFormatError, arch_formats
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import NB201Space
from nasflat.tracking import Tracker, WandbSettings, WandbSetupError, check_wandb, resolve_wandb_mode

REPO = Path(__file__).resolve().parents[1]
NB201_ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
SPACES = {"nb201": NB201Space(), "darts": DartsSpace()}
CIFAR10_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]


# ---- dataset pickles ------------------------------------------------------------------------------------------------
def _batch(n: int, width: int, lo: int, hi: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, width), dtype=np.uint8)
    return {"batch_label": "synthetic", "data": data, "labels": rng.integers(lo, hi + 1, size=n).tolist()}


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=4))


@pytest.fixture
def cifar10_root(tmp_path: Path) -> Path:
    """A synthetic CIFAR-10 in the official layout: 8 images per file (no shared data needed)."""
    for i, name in enumerate(CIFAR10_FILES):
        _write(tmp_path / "cifar-10-batches-py" / name, _batch(8, 3072, 0, 9, i))
    return tmp_path


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE: list[tuple[str, Callable[[Path], None], str]] = [
    ("truncated", _truncate, "is truncated: the pickle ends early"),
    ("empty", lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    ("garbage", lambda p: p.write_bytes(b"<html>404 Not Found</html>"), "is not a pickle (it starts with b'<html>4"),
    ("not a dict", lambda p: _write(p, [1, 2, 3]), "holds a list, not the dict of a cifar10 batch"),
    ("cifar100 keys", lambda p: _write(p, {"data": 0, "fine_labels": [1]}), "lacks the key(s) 'labels'"),
    ("float data", lambda p: _write(p, {**_batch(8, 3072, 0, 9, 0), "data": np.zeros((8, 3072))}), "float64"),
    ("16x16 images", lambda p: _write(p, _batch(8, 768, 0, 9, 0)), "has 'data' uint8 of shape (8, 768)"),
    ("no images", lambda p: _write(p, {"data": np.zeros((0, 3072), np.uint8), "labels": []}), "holds no images"),
    ("label count", lambda p: _write(p, {**_batch(8, 3072, 0, 9, 0), "labels": [1] * 7}), "8 images but 7 labels"),
    ("label range", lambda p: _write(p, _batch(8, 3072, 5, 12, 0)), "labels 5..12, but cifar10 labels are 0..9"),
    ("label type", lambda p: _write(p, {**_batch(8, 3072, 0, 9, 0), "labels": ["cat"] * 8}), "not a list of integers"),
]


@pytest.mark.parametrize(("damage", "problem"), [(d, p) for _, d, p in DAMAGE], ids=[i for i, _, _ in DAMAGE])
def test_damaged_cifar_pickle_names_the_file(cifar10_root: Path, damage: Callable[[Path], None], problem: str) -> None:
    bad = cifar10_root / "cifar-10-batches-py" / "data_batch_2"
    damage(bad)
    with pytest.warns(UserWarning, match="md5"), pytest.raises(DatasetFileError) as err:
        load_dataset("cifar10", cifar10_root)
    message = str(err.value)
    assert message.startswith(f"{bad} ") and problem in message
    assert "dataset.download=true" in message and "nasflat data check dataset=cifar10" in message


def test_synthetic_cifar_loads(cifar10_root: Path) -> None:
    """The fixture itself is valid: every failure above comes from the one damaged file."""
    with pytest.warns(UserWarning, match="md5"):
        ds = load_dataset("cifar10", cifar10_root)
    assert (len(ds.train), len(ds.test)) == (40, 8)


def test_check_lists_every_damaged_file(cifar10_root: Path) -> None:
    directory = cifar10_root / "cifar-10-batches-py"
    _truncate(directory / "data_batch_1")
    (directory / "test_batch").write_bytes(b"\x80\x02" + b"\x00" * 62)
    report = check_dataset("cifar10", cifar10_root)
    assert not report.ok and report.corrupt == ["data_batch_1", "test_batch"] and report.missing == []
    assert report.error == "damaged file(s): data_batch_1, test_batch"
    text = report.to_text()
    assert "data_batch_1           CORRUPT: is truncated" in text
    assert "test_batch             CORRUPT: is a damaged pickle" in text
    assert "data_batch_2           present (" in text and "dataset.download=true" in text
    assert report.to_dict()["corrupt"] == ["data_batch_1", "test_batch"]


def test_damaged_imagenet16_pickle(tmp_path: Path) -> None:
    directory = tmp_path / "ImageNet16"
    for i in range(1, 11):
        _write(directory / f"train_data_batch_{i}", _batch(6, 768, 1, 1000, i))
    _write(directory / "val_data", _batch(6, 768, 1, 1000, 0))
    _truncate(directory / "train_data_batch_7")
    with pytest.warns(UserWarning, match="md5"), pytest.raises(DatasetFileError) as err:
        load_dataset("imagenet16_120", tmp_path)
    assert str(directory / "train_data_batch_7") in str(err.value) and "is truncated" in str(err.value)
    assert "ImageNet16 download" in str(err.value) and "nasflat data check dataset=imagenet16_120" in str(err.value)


def test_cli_data_check_reports_corrupt_file(cifar10_root: Path) -> None:
    _truncate(cifar10_root / "cifar-10-batches-py" / "data_batch_3")
    proc = nasflat("data", "check", "dataset=cifar10", f"dataset.root={cifar10_root}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "data_batch_3           CORRUPT: is truncated" in proc.stdout and "NOT LOADABLE" in proc.stdout


def test_cli_run_with_damaged_pickle(cifar10_root: Path, tmp_path: Path) -> None:
    bad = cifar10_root / "cifar-10-batches-py" / "test_batch"
    bad.write_bytes(b"not a pickle at all")
    args = ["debug=tiny", "logger=none", "dataset=cifar10", f"dataset.root={cifar10_root}", f"out_root={tmp_path}"]
    proc = nasflat("retrain", *args, f"arch={NB201_ARCH}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"DatasetFileError: {bad} is not a pickle" in proc.stderr.replace("\n", "")
    assert "nasflat data check dataset=cifar10" in proc.stderr.replace("\n", "")


# ---- the NB201 table through the CLI (load-level cases are in test_nb201_table.py) -----------------------------------
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x80\x04\x95\x10\x00garbage", "is not a text CSV file"),
        (b"arch_index,arch_str\n0,x\n", "lacks the column(s)"),
    ],
)
def test_cli_bad_table(tmp_path: Path, content: bytes, problem: str) -> None:
    table = tmp_path / "table.csv"
    table.write_bytes(content)
    proc = nasflat("info", f"arch={NB201_ARCH}", f"benchmark.nb201_table={table}")
    err = proc.stderr.replace("\n", "")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"TableFormatError: {table} {problem}" in err and "nasflat bench import" in err


def test_table_error_is_a_known_cli_error() -> None:
    from nasflat.cli import _known_errors

    assert issubclass(TableFormatError, _known_errors()) and issubclass(DatasetFileError, _known_errors())
    assert issubclass(WandbSetupError, _known_errors())


# ---- W&B ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home without ~/.netrc and no WANDB_API_KEY: what a fresh machine looks like to W&B."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("WANDB_API_KEY", "NETRC", "WANDB_BASE_URL", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.mark.usefixtures("no_credentials")
def test_empty_wandb_mode_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "")
    assert resolve_wandb_mode(None) == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert resolve_wandb_mode(None) == "online" and check_wandb(WandbSettings()) == "online"
    assert resolve_wandb_mode("disabled") == "disabled"


def test_netrc_entry_counts_as_credentials(no_credentials: Path) -> None:
    assert check_wandb(WandbSettings()) == "offline"
    (no_credentials / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert check_wandb(WandbSettings()) == "online"


@pytest.mark.usefixtures("no_credentials")
@pytest.mark.parametrize(("env", "explicit", "shown"), [("onlin", None, "WANDB_MODE='onlin'"), ("", "of", "'of'")])
def test_invalid_wandb_mode_lists_the_accepted_ones(
    monkeypatch: pytest.MonkeyPatch, env: str, explicit: str | None, shown: str
) -> None:
    monkeypatch.setenv("WANDB_MODE", env)
    with pytest.raises(WandbSetupError) as err:
        check_wandb(WandbSettings(mode=explicit))
    assert shown in str(err.value) and "online, offline or disabled" in str(err.value)


@pytest.mark.usefixtures("no_credentials")
def test_online_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for settings, env in ((WandbSettings(), "online"), (WandbSettings(mode="online"), "")):
        monkeypatch.setenv("WANDB_MODE", env)
        with pytest.raises(WandbSetupError) as err:
            check_wandb(settings)
        assert "no W&B API key" in str(err.value) and "wandb login" in str(err.value)
        assert "WANDB_MODE=offline" in str(err.value) and "logger=none" in str(err.value)
    for bad in (0, -1.0, "abc"):
        with pytest.raises(WandbSetupError, match=f"logger.init_timeout={bad!r}: expected seconds > 0"):
            check_wandb(WandbSettings(init_timeout=bad))  # type: ignore[arg-type]
    assert check_wandb(None) is None


def test_cli_online_without_credentials_refused_before_work(no_credentials: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["debug=tiny", "dataset=digits", "logger=wandb", f"out_root={out}", f"arch={NB201_ARCH}"]
    proc = nasflat("retrain", *args, env={"WANDB_MODE": "online", "HOME": str(no_credentials)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "WandbSetupError: WANDB_MODE=online but no W&B API key" in proc.stderr.replace("\n", "")
    assert not list(out.glob("**/checkpoints")) and not list(out.glob("**/results.json"))


def test_no_network_falls_back_to_offline(
    no_credentials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key but no server: the bounded online init fails, the run logs offline and says where and how to sync."""
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    calls: list[dict[str, Any]] = []
    sync_dir = tmp_path / "run" / "wandb" / "offline-run-1"

    def fake_init(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if kwargs["mode"] == "online":
            raise fake_wandb.errors.CommError("Run initialization has timed out after 7.0 sec.")
        return types.SimpleNamespace(settings=types.SimpleNamespace(sync_dir=str(sync_dir)), finish=lambda **_: None)

    class CommError(Exception):
        pass

    fake_wandb = types.SimpleNamespace(
        init=fake_init,
        teardown=lambda: None,
        Settings=lambda **kw: types.SimpleNamespace(**kw),
        errors=types.SimpleNamespace(CommError=CommError),
    )
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb)
    console = Console(file=io.StringIO(), width=400)
    tracker = Tracker(tmp_path / "run", {"seed": 0}, WandbSettings(init_timeout=7), console=console)
    assert [c["mode"] for c in calls] == ["online", "offline"] and calls[0]["settings"].init_timeout == 7
    assert calls[0]["id"] == calls[1]["id"] == (tmp_path / "run" / "wandb_id.txt").read_text()
    assert tracker._run.settings.sync_dir == str(sync_dir)
    warning = console.file.getvalue()
    assert warning.count("\n") == 1 and "not reachable within 7 s" in warning
    assert f"logging offline to {sync_dir}" in warning and f"wandb sync {sync_dir}" in warning


# ---- missing arch= and the other space's format ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "key"), [(["retrain"], "arch="), (["info"], "arch="), (["bench", "import"], "source=")]
)
def test_missing_required_value_prints_usage(command: list[str], key: str) -> None:
    proc = nasflat(*command)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "MissingMandatoryValue" not in proc.stderr
    assert f"missing required value(s): {key}" in proc.stderr
    if key == "arch=":
        assert "space=nb201 (a NAS-Bench-201 arch string): arch='|" in proc.stderr
        assert 'space=darts (a DARTS genotype): arch="Genotype(normal=' in proc.stderr


def test_usage_examples_parse_in_their_space() -> None:
    formats = arch_formats()
    assert set(formats) == set(SPACES) == {p.stem for p in (REPO / "conf" / "space").glob("*.yaml")}
    for name, fmt in formats.items():
        space = SPACES[name]
        assert space.name == name and space.format(space.parse(fmt.example)) == fmt.example
        assert fmt.looks_like(fmt.example) and all(not f.looks_like(fmt.example) for f in formats.values() if f != fmt)


@pytest.mark.parametrize(("given", "other"), [("darts", "nb201"), ("nb201", "darts")])
def test_other_space_format_says_which_space(given: str, other: str) -> None:
    text = arch_formats()[other].example
    with pytest.raises(ArchFormatError) as err:
        SPACES[given].parse(text)
    description = arch_formats()[other].description
    assert str(err.value).startswith(f"this looks like {description}; use space={other} (")


def test_malformed_own_format_gets_no_other_space_hint() -> None:
    with pytest.raises(ArchFormatError) as err:
        NB201Space().parse(NB201_ARCH.replace("none", "nothing", 1))
    assert "unknown op 'nothing'" in str(err.value) and "use space=" not in str(err.value)
    with pytest.raises(ArchFormatError) as err:
        DartsSpace().parse("Genotype(normal=[('sep_conv_3x3', 0)])")
    assert "use space=" not in str(err.value)


def test_cli_nb201_string_with_space_darts() -> None:
    proc = nasflat("info", "space=darts", f"arch={NB201_ARCH}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "this looks like a NAS-Bench-201 arch string; use space=nb201" in proc.stderr.replace("\n", "")


def test_unknown_command_prints_the_usage_line_verbatim():
    """Square brackets of the usage text (`[key=value ...]`) are text, not console markup."""
    r = nasflat("analyze", "foo")
    assert r.returncode == 2 and "usage: nasflat <command> [key=value ...] [-m]" in r.stderr
