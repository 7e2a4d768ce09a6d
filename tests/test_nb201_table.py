"""NB201 benchmark table: explicit dataset/split queries, known anchors, file errors, writing and NATS import."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nasflat.benchmarks.nb201 import (
    ACC_COLUMNS,
    COLUMNS,
    DATASETS,
    SPLITS,
    NB201Table,
    TableFormatError,
    import_from_nats,
    write_table,
)
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.nb201 import DATASET_CLASSES, NB201Arch, NB201Space, param_count

SPACE = NB201Space()
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def table(nb201_csv: Path) -> NB201Table:
    return NB201Table.load(nb201_csv)


def fake_rows(n: int = 6) -> list[dict[str, Any]]:
    """A tiny synthetic table (no shared data needed)."""
    rng = np.random.default_rng(0)
    archs = SPACE.all_archs()[:: 5**6 // n][:n]
    rows = []
    for i, a in enumerate(archs):
        row: dict[str, Any] = {"arch_index": i, "arch_str": str(a), "naswot_cifar10": float(i) if i % 2 else None}
        row.update({c: round(float(rng.uniform(10, 90)), 6) for c in ACC_COLUMNS.values()})
        row.update(
            {f"params_{p}": param_count(a, k) for p, k in zip(("cifar10", "cifar100", "imagenet16"), (10, 100, 120))}
        )
        rows.append(row)
    return rows


# ---- the real table -----------------------------------------------------------------------------------------------
def test_load_is_fast_and_complete(nb201_csv: Path) -> None:
    start = time.perf_counter()
    t = NB201Table.load(nb201_csv)
    assert time.perf_counter() - start < 1.5  # ~0.25 s on one core; slack for loaded CI machines
    assert len(t) == 5**6 == len(set(t.archs))
    assert sorted(t.arch_index.tolist()) == list(range(5**6))


def test_known_anchors(table: NB201Table) -> None:
    assert round(table.column("cifar10", "test").max(), 2) == 94.37
    assert round(table.column("cifar100", "test").max(), 2) == 73.51
    assert round(table.column("imagenet16_120", "test").max(), 2) == 47.31
    assert round(table.query(ALL_SKIP, "cifar10", "test"), 2) == 54.30
    arch, acc = table.best("cifar10", "test")
    assert str(arch) == BEST_C10 and acc == table.query(BEST_C10, "cifar10", "test")


def test_queries_are_consistent(table: NB201Table) -> None:
    a = NB201Arch.from_str(BEST_C10)
    r = table.row(a)
    assert table.archs[r] == a and table.index(a) == 6111 and table.index(list(a)) == 6111
    acc = table.entry(a)
    assert set(acc) == set(DATASETS) and all(set(v) == set(SPLITS) for v in acc.values())
    for d in DATASETS:
        for s in SPLITS:
            assert acc[d][s] == table.query(a, d, s) == table.column(d, s)[r]
        assert table.params(a, d) == param_count(a, DATASET_CLASSES[d])
    # valid and test are different measurements (the NASLib aliasing bug would make them equal)
    assert acc["cifar10"]["valid"] != acc["cifar10"]["test"]
    assert table.naswot(a) == pytest.approx(6.745106)
    assert a in table and (0, 0, 0, 0, 0, 0) in table
    assert table.covers(NB201Space()) and not table.covers(DartsSpace())


def test_columns_are_read_only(table: NB201Table) -> None:
    with pytest.raises(ValueError):
        table.column("cifar10", "test")[0] = 0.0


@pytest.mark.parametrize(
    ("dataset", "split", "message"),
    [
        ("ImageNet16-120", "test", "imagenet16_120"),
        ("cifar10-valid", "valid", "cifar100"),
        ("cifar10", "val", "valid, test"),
        ("cifar10", "x-test", "valid, test"),
    ],
)
def test_unknown_dataset_or_split_lists_valid_names(table: NB201Table, dataset: str, split: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        table.query(BEST_C10, dataset, split)
    with pytest.raises(ValueError, match=message):
        table.column(dataset, split)


def test_real_table_round_trips_through_write_table(table: NB201Table, nb201_csv: Path, tmp_path: Path) -> None:
    out = write_table(table.rows(), tmp_path / "copy.csv")
    assert out.read_bytes() == nb201_csv.read_bytes()


# ---- files, errors, writing -----------------------------------------------------------------------------------------
def test_write_then_load_is_identical(tmp_path: Path) -> None:
    rows = fake_rows()
    t = NB201Table.load(write_table(rows, tmp_path / "sub" / "t.csv"), expected_rows=None)
    assert [str(a) for a in t.archs] == [r["arch_str"] for r in rows]
    for (d, s), c in ACC_COLUMNS.items():
        assert t.column(d, s).tolist() == [r[c] for r in rows]
    assert t.params(rows[1]["arch_str"], "cifar100") == rows[1]["params_cifar100"]
    assert t.naswot(rows[1]["arch_str"]) == 1.0
    with pytest.raises(ValueError, match="no NASWOT"):
        t.naswot(rows[0]["arch_str"])
    with pytest.raises(KeyError, match="not in the NB201 table"):
        t.query((4, 4, 4, 4, 4, 3), "cifar10", "test")
    again = write_table(t.rows(), tmp_path / "again.csv")
    assert again.read_bytes() == (tmp_path / "sub" / "t.csv").read_bytes()


def test_missing_file_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        NB201Table.load(tmp_path / "nope.csv")
    assert "nope.csv" in str(err.value) and "nasflat bench import" in str(err.value)


def corrupt(tmp_path: Path, edit: Any) -> Path:
    path = write_table(fake_rows(), tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    path.write_text("".join(line + "\n" for line in edit(lines)))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [lines[0].replace("cifar100_test_acc", "c100"), *lines[1:]], "lacks the column(s) cifar100_t"),
        (lambda lines: lines[:1], "no rows"),
        (lambda lines: [], "empty"),
        (lambda lines: [lines[0], lines[1].replace("~0|", "~7|", 1), *lines[2:]], "line 2: malformed arch_str"),
        (lambda lines: [*lines, lines[1]], "appears twice (lines 2 and 8)"),
        (lambda lines: [*lines[:2], lines[2].rsplit(",", 2)[0] + ",1.5e,", *lines[3:]], "line 3: params_imagenet16"),
        (lambda lines: [*lines[:-1], lines[-1][:40]], "line 7: 2 fields where the header has 15"),
        (lambda lines: [*lines[:3], "", *lines[3:]], "line 4: 0 fields"),
        (lambda lines: [lines[0], lines[1].replace("0,", "1,", 1), *lines[2:]], "arch_index 1 appears twice"),
    ],
)
def test_malformed_file_names_the_path(tmp_path: Path, edit: Any, message: str) -> None:
    path = corrupt(tmp_path, edit)
    with pytest.raises(TableFormatError) as err:
        NB201Table.load(path, expected_rows=None)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "nasflat bench import" in str(err.value)


def test_trailing_blank_lines_are_accepted(tmp_path: Path) -> None:
    path = corrupt(tmp_path, lambda lines: [*lines, "", ""])
    assert len(NB201Table.load(path, expected_rows=None)) == len(fake_rows())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94.", "is not a text CSV file (it starts with b'\\x80"),
        (b"arch_index,arch_str\n0,\x00\n", "is not a text CSV file"),
    ],
)
def test_binary_file_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "table.pth"
    path.write_bytes(content)
    with pytest.raises(TableFormatError) as err:
        NB201Table.load(path)
    assert message in str(err.value) and str(path) in str(err.value) and "nasflat bench import" in str(err.value)


@pytest.mark.parametrize("value", [150.0, -1.0, float("inf")])
def test_accuracy_must_be_a_percentage(tmp_path: Path, value: float) -> None:
    rows = fake_rows()
    rows[2]["cifar100_valid_acc"] = value
    path = write_table(rows, tmp_path / "t.csv")
    with pytest.raises(TableFormatError, match=rf"line 4: cifar100_valid_acc is {value}, not a percentage in 0..100"):
        NB201Table.load(path, expected_rows=None)


@pytest.fixture(scope="module")
def full_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic table with every NB201 architecture once (no shared data needed)."""
    params = ("params_cifar10", "params_cifar100", "params_imagenet16")
    rows = [
        {"arch_index": i, "arch_str": str(a), **dict.fromkeys(ACC_COLUMNS.values(), 50.0), **dict.fromkeys(params, 1)}
        for i, a in enumerate(SPACE.all_archs())
    ]
    return write_table(rows, tmp_path_factory.mktemp("nb201") / "full.csv")


def test_partial_table_is_refused_on_load(full_table: Path, tmp_path: Path) -> None:
    assert len(NB201Table.load(full_table)) == 5**6
    lines = full_table.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines[:8000]))
    with pytest.raises(TableFormatError) as err:
        NB201Table.load(cut)
    assert f"{cut} has 7,999 architectures, NB201 has 15,625" in str(err.value)
    assert "nasflat bench import" in str(err.value)
    assert len(NB201Table.load(cut, expected_rows=None)) == 7999  # subsets only on request


# ---- import from NATS-Bench (fake module mimicking the API surface used) --------------------------------------------
class FakeNATS:
    """``create(path, 'tss', fast_mode=True, verbose=False)``: len, arch(i), get_more_info, get_cost_info."""

    datasets = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")

    def __init__(self, archs: list[NB201Arch]) -> None:
        self.archs = archs
        self.arch2infos_dict: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.archs)

    def arch(self, i: int) -> str:
        return str(self.archs[i])

    @staticmethod
    def acc(i: int, dataset: str, metric: str) -> float:
        # distinct value per (arch, dataset, metric) so any mix-up is caught
        return 50 + i + FakeNATS.datasets.index(dataset) / 10 + {"valid": 0.01, "test": 0.02}[metric] + 1e-7

    def get_more_info(self, i: int, dataset: str, iepoch: Any = None, hp: str = "12", is_random: bool = True) -> dict:
        assert hp == "200" and is_random is False and iepoch is None and dataset in self.datasets
        self.arch2infos_dict[i] = "cached"
        info = {"train-accuracy": 99.0, "test-accuracy": self.acc(i, dataset, "test")}
        if dataset != "cifar10":  # NATS has no x-valid for the 50k cifar10 run
            info["valid-accuracy"] = self.acc(i, dataset, "valid")
        return info

    def get_cost_info(self, i: int, dataset: str, hp: str = "12") -> dict:
        assert hp == "200"
        n = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}[dataset]
        return {"flops": 1.0, "params": param_count(self.archs[i], n) / 1e6, "latency": 0.01}


def test_import_from_nats_with_fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archs = [NB201Arch.from_str(BEST_C10), NB201Arch((0,) * 6), NB201Arch.from_str(ALL_SKIP)]
    api = FakeNATS(archs)
    calls = []

    def create(path: str, space: str, fast_mode: bool = False, verbose: bool = True) -> FakeNATS:
        calls.append((path, space, fast_mode, verbose))
        return api

    monkeypatch.setitem(sys.modules, "nats_bench", types.SimpleNamespace(create=create))
    source = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    source.mkdir()
    seen = []
    out = import_from_nats(source, tmp_path / "nb201.csv", progress=lambda i, n: seen.append((i, n)))
    assert calls == [(str(source), "tss", True, False)] and seen[-1] == (3, 3) and not api.arch2infos_dict

    t = NB201Table.load(out, expected_rows=None)
    assert t.archs == archs and t.arch_index.tolist() == [0, 1, 2]
    for i, a in enumerate(archs):
        assert t.query(a, "cifar10", "valid") == round(FakeNATS.acc(i, "cifar10-valid", "valid"), 6)
        assert t.query(a, "cifar10", "test") == round(FakeNATS.acc(i, "cifar10", "test"), 6)
        assert t.query(a, "cifar100", "valid") == round(FakeNATS.acc(i, "cifar100", "valid"), 6)
        assert t.query(a, "imagenet16_120", "test") == round(FakeNATS.acc(i, "ImageNet16-120", "test"), 6)
        for d, n in DATASET_CLASSES.items():
            assert t.params(a, d) == param_count(a, n)
    header = out.read_text().splitlines()[0].split(",")
    assert tuple(header) == COLUMNS
    assert out.read_text().splitlines()[1].endswith(",")  # empty NASWOT column


def test_import_from_nats_without_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nats_bench", None)  # makes `import nats_bench` raise ImportError
    with pytest.raises(ImportError, match="pip install nats_bench"):
        import_from_nats(tmp_path, tmp_path / "out.csv")
