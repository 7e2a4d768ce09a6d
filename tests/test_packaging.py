"""Packaging: the wheel builds without setuptools warnings and carries every module and config group, so an
installed (non-editable) copy runs from any working directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# top-level entries that are local state, not sources (a build must neither see nor leave them)
NOT_SOURCES = {".git", ".venv", "build", "dist", "outputs", "multirun", "wandb", ".pytest_cache", ".ruff_cache"}
# a Python warning category (BuildBackendWarning, SetuptoolsDeprecationWarning, ...) or a distutils "warning:" line
WARNING = re.compile(r"^.*(?:\b[A-Za-z]*Warning\b|^\s*warning:).*$", re.MULTILINE)


def _ignore(folder: str, names: list[str]) -> list[str]:
    top = Path(folder) == REPO
    return [n for n in names if (top and n in NOT_SOURCES) or n == "__pycache__" or n.endswith(".egg-info")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A wheel built (as `pip install .` builds it) from a copy of the sources, and pip's verbose build log."""
    root = tmp_path_factory.mktemp("pkg")
    src, dist = root / "src", root / "dist"
    shutil.copytree(REPO, src, ignore=_ignore)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # it makes distutils warn
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = dist.glob("nasflat-*.whl")
    return path, proc.stdout + proc.stderr


def test_build_prints_no_warnings(wheel):
    _, log = wheel
    assert "Building wheel for nasflat" in log  # the backend's output is in the log we search
    assert WARNING.findall(log) == []


def test_wheel_carries_every_module_and_config(wheel):
    path, _ = wheel
    names = set(zipfile.ZipFile(path).namelist())
    modules = {p.relative_to(REPO / "src").as_posix() for p in (REPO / "src" / "nasflat").rglob("*.py")}
    configs = {"nasflat/conf/" + p.relative_to(REPO / "conf").as_posix() for p in (REPO / "conf").rglob("*.yaml")}
    assert len(configs) > 40 and "nasflat/conf/algo/darts.yaml" in configs
    assert modules - names == set() and configs - names == set()


def test_non_editable_install_works_from_any_directory(wheel, tmp_path):
    """A plain (non-editable) install finds its configs inside the package, from an unrelated directory."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel[0])],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "WANDB_MODE": "disabled"}
    script = "import nasflat.cli as c, sys; print(c.__file__); c.main(sys.argv[1:])"

    def run(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", script, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        first, rest = proc.stdout.split("\n", 1)
        assert first.startswith(str(target))  # the installed copy, not the source tree
        return rest

    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    assert json.loads(run("info", "space=nb201", f"arch={arch}"))["cost"]["cifar10"]["params"] > 0
    job = run("search", "experiment=demo", "--cfg", "job")
    assert "name: digits" in job and "budget: 20" in job
