"""The space seam: outside ``src/nasflat/spaces/`` no module branches on which space it runs.

Space-specific knowledge goes through the contract (``space.encoding()``, ``space.mutation_schemes``,
``supernet.path_parameters(arch)``, ``table.covers(space)`` / ``table.entry(arch)``). Looking a space up by its
config name (``choices["space"]``) is fine; comparing a space's name, or isinstance on a space or supernet class, is
not.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from nasflat.benchmarks.nb201 import DATASETS
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import DATASET_CLASSES, NB201Space

SRC = Path(__file__).resolve().parents[2] / "src" / "nasflat"
NAME_TESTS = (
    re.compile(r"\bspace(_name|\.name)\s*(==|!=|\bin\b|\bnot in\b)"),  # space.name == ..., plan.space_name in (...)
    re.compile(r"""["'](nb201|darts)["']\s*(==|!=)\s*[\w.]*space"""),  # "nb201" == space.name
    re.compile(r"isinstance\([^)]*\b(NB201Space|DartsSpace|NB201SuperNet|DartsSupernet)\b"),
)


def offenders(root: Path) -> list[str]:
    """``path:line: text`` of every space-name test under ``root`` outside ``spaces/``."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("spaces/"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if any(p.search(line) for p in NAME_TESTS):
                out.append(f"{rel}:{n}: {line.strip()}")
    return out


def test_no_module_outside_spaces_tests_a_space_name() -> None:
    found = offenders(SRC)
    assert not found, "space-name tests outside spaces/ (use the SearchSpace contract instead):\n" + "\n".join(found)


def test_the_grep_catches_each_form(tmp_path: Path) -> None:
    bad = [
        'if self.space.name != "nb201":',
        "x = a if plan.space_name == 'darts' else b",
        'if "darts" == ctx.space.name:',
        "if isinstance(model, DartsSupernet):",
    ]
    ok = ['space_name=choices["space"],', 'if method == "nb201":', "out = {'space': space.name}"]
    (tmp_path / "mod.py").write_text("\n".join(bad + ok) + "\n")
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "inside.py").write_text(bad[0] + "\n")
    assert [f.split(": ", 1)[1] for f in offenders(tmp_path)] == bad


def test_one_home_for_the_benchmark_dataset_names() -> None:
    assert DATASETS == tuple(DATASET_CLASSES) == ("cifar10", "cifar100", "imagenet16_120")
    literal = re.compile(r"""\(\s*["']cifar10["'],\s*["']cifar100["'],\s*["']imagenet16_120["']\s*\)""")
    again = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if literal.search(p.read_text())]
    assert not again, f"the NB201 dataset tuple is spelled out again in {again}"


def test_spaces_declare_encoding_mutation_and_incoming_edges() -> None:
    nb201, darts = NB201Space(), DartsSpace()
    code = nb201.encoding()
    assert (code.length, code.num_ops, code.cells, code.repair) == (6, 5, ((0, 6),), None)
    assert nb201.reference_mutation == "by_node" and set(nb201.mutation_schemes) == {"uniform", "by_node"}
    assert darts.reference_mutation == "uniform" and darts.mutation_schemes == ("uniform",)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="'spos' is not offered by space 'nb201'; choose one of uniform, by_node"):
        nb201.mutate(nb201.sample(rng), rng, scheme="spos")
    assert darts.incoming_edges()["normal"][0] == (0, 1) and darts.incoming_edges()["reduce"][3] == tuple(range(9, 14))
