"""Published numbers as data: every table loads and validates, every row names its source, and the numbers that can
be recomputed independently (NB201 optimum and DARTS's all-skip collapse from the benchmark table, DARTS-space
parameter counts from the genotypes) agree with what the tables say, or differ by a documented amount."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from nasflat.reproduce.published import (
    DATASETS,
    METRICS,
    SOURCE_KINDS,
    Published,
    Source,
    published_table,
    published_tables,
    table_from_dict,
)

CONTRACT_TABLES = {
    "nb201_darts",
    "nb201_table",
    "na_nb201",
    "a2m_nb201",
    "a2m_darts",
    "genas_darts",
    "genas_tau",
    "naswot_nb201",
    "darts_cifar10",
}
COLUMNS = {  # (dataset, metric) of the published tables -> column of the shared NB201 table
    ("cifar10", "valid_acc"): "cifar10_valid_acc",
    ("cifar10", "test_acc"): "cifar10_test_acc",
    ("cifar100", "valid_acc"): "cifar100_valid_acc",
    ("cifar100", "test_acc"): "cifar100_test_acc",
    ("imagenet16_120", "valid_acc"): "imagenet16_valid_acc",
    ("imagenet16_120", "test_acc"): "imagenet16_test_acc",
}
ALL_SKIP = ",".join(["skip_connect"] * 6)


def all_rows() -> list[tuple[str, Published]]:
    return [(name, r) for name, t in published_tables().items() for r in t.rows]


def test_the_contract_tables_are_shipped_under_their_names():
    tables = published_tables()
    assert set(tables) >= CONTRACT_TABLES
    assert all(t.name == name for name, t in tables.items())
    assert {t.space for t in tables.values()} == {"nb201", "darts"}
    assert published_tables() is not tables and published_table("nb201_darts") is tables["nb201_darts"]  # cached


def test_every_row_has_a_source_with_url_and_citation():
    rows = all_rows()
    assert len(rows) > 150
    for name, r in rows:
        s = r.source
        assert s.citation and s.url.startswith("https://"), (name, r.method)
        assert s.kind in SOURCE_KINDS
        if not s.verified:  # an unverified number says where it came from
            assert s.note or r.note, (name, r.method, r.dataset, r.metric)


def test_metrics_datasets_std_and_n_are_valid():
    for name, r in all_rows():
        assert r.metric in METRICS and r.dataset in DATASETS, (name, r)
        assert r.std is None or r.std >= 0
        assert r.n is None or r.n >= 1
        assert r.method == r.method.lower()
        if r.metric.endswith("_acc") or r.metric in ("top1", "test_error"):
            assert 0 < r.mean < 100, (name, r)
        if r.metric == "kendall_tau":
            assert -1 <= r.mean <= 1


def test_no_duplicate_method_dataset_metric_within_a_table():
    for name, t in published_tables().items():
        keys = [(r.method, r.dataset, r.metric) for r in t.rows]
        assert len(keys) == len(set(keys)), name


def test_protocols_and_unverified_lists():
    for name, t in published_tables().items():
        assert {"search_dataset", "split", "epochs", "seeds", "notes"} <= set(t.protocol), name
        assert isinstance(t.protocol["seeds"], int | list | type(None))
        if not t.rows or not all(r.source.verified for r in t.rows):
            assert t.unverified and all(isinstance(u, str) and u for u in t.unverified), name
    assert published_table("na_nb201").rows == ()  # the NA paper's tables could not be read: kept empty, and said so
    assert "could not be read" in " ".join(published_table("na_nb201").unverified)
    assert published_table("nb201_darts").protocol["seeds"] == 3


def test_unknown_table_is_a_value_error_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown published table 'nb202'") as err:
        published_table("nb202")
    assert all(name in str(err.value) for name in published_tables())


def test_rows_for_filters_by_method_dataset_and_metric():
    t = published_table("nb201_darts")
    c10 = t.rows_for("darts", "cifar10")
    assert [(r.metric, r.mean) for r in c10] == [("valid_acc", 39.77), ("test_acc", 54.30), ("search_cost_s", 10889.87)]
    (gdas,) = t.rows_for("gdas", "cifar100", "test_acc")
    assert (gdas.mean, gdas.std, gdas.n) == (70.70, 0.30, 3)
    assert len(t.rows_for("rea", metric="test_acc")) == 3
    assert t.rows_for("no_such_method") == []
    assert t.methods[:3] == ["rsps", "darts", "darts_2nd"] and "optimal" in t.methods


def test_nb201_table_takes_rs_and_rea_from_the_paper_table():
    small, big = published_table("nb201_table"), published_table("nb201_darts")
    assert small.methods == ["rs", "rea"] and small.protocol["epochs"] == 12
    assert small.rows == tuple(big.rows_for("rs") + big.rows_for("rea"))
    (rea,) = small.rows_for("rea", "cifar10", "test_acc")
    assert (rea.mean, rea.std) == (93.92, 0.30) and not rea.source.verified


def test_search_costs_and_params_are_present_where_the_papers_give_them():
    t = published_table("nb201_darts")
    costs = {r.method: r.mean for r in t.rows if r.metric == "search_cost_s"}
    assert costs["darts_2nd"] > costs["darts"] > costs["rsps"] > costs["rea"] > 0
    d = published_table("darts_cifar10")
    for method in ("darts", "darts_2nd", "pc_darts", "pdarts"):
        assert {"test_error", "params_m", "search_cost_gpu_days"} <= {r.metric for r in d.rows_for(method, "cifar10")}
    (v2,) = d.rows_for("darts_2nd", "cifar10", "test_error")
    assert (v2.mean, v2.std, v2.n, v2.source.kind, v2.source.verified) == (2.76, 0.09, 10, "readme", True)


def test_validation_rejects_bad_rows():
    src = Source("x", "https://example.org", "paper", True)
    with pytest.raises(ValueError, match="metric 'accuracy'"):
        Published("darts", "cifar10", "accuracy", 1.0, None, None, src)
    with pytest.raises(ValueError, match="dataset 'cifar-10'"):
        Published("darts", "cifar-10", "test_acc", 1.0, None, None, src)
    with pytest.raises(ValueError, match="std"):
        Published("darts", "cifar10", "test_acc", 1.0, -0.1, None, src)
    with pytest.raises(ValueError, match="n 0"):
        Published("darts", "cifar10", "test_acc", 1.0, None, 0, src)
    with pytest.raises(ValueError, match="lower-case"):
        Published("DARTS", "cifar10", "test_acc", 1.0, None, None, src)
    with pytest.raises(ValueError, match="kind"):
        Source("x", "https://example.org", "blog", True)
    row = {"method": "rs", "dataset": "cifar10", "metric": "test_acc", "mean": 93.7, "source": "s"}
    raw = {
        "name": "t",
        "title": "t",
        "space": "nb201",
        "protocol": {"search_dataset": "cifar10", "split": None, "epochs": 1, "seeds": 1, "notes": ""},
        "sources": {"s": {"citation": "x", "url": "https://example.org", "kind": "paper", "verified": True}},
        "rows": [row, row],
        "unverified": [],
    }
    with pytest.raises(ValueError, match="duplicate"):
        table_from_dict(raw)
    with pytest.raises(ValueError, match="unknown source 'z'"):
        table_from_dict({**raw, "rows": [{**row, "source": "z"}]})
    with pytest.raises(ValueError, match="protocol lacks"):
        table_from_dict({**raw, "rows": [row], "protocol": {}})
    assert table_from_dict({**raw, "rows": [row]}).rows[0].std is None


# ---- cross-checks against independent data (skipped with a reason when ../shared is absent) ----


@pytest.fixture(scope="module")
def nb201(nb201_csv: Path) -> list[dict[str, str]]:
    with open(nb201_csv) as f:
        return list(csv.DictReader(f))


def test_optimal_rows_equal_the_benchmark_best(nb201):
    """The table's best per column, rounded as the paper prints, against the 'optimal' row. One documented
    difference: ImageNet16-120 valid is 46.77 in the recalled Table 5 but 46.73 in the shared table (whose valid
    columns come from another export than its test columns); the test pins that gap rather than loosening the check."""
    t = published_table("nb201_darts")
    documented = {("imagenet16_120", "valid_acc"): (46.77, 46.73)}
    for (dataset, metric), column in COLUMNS.items():
        ours = round(max(float(r[column]) for r in nb201), 2)
        (row,) = t.rows_for("optimal", dataset, metric)
        if (dataset, metric) in documented:
            assert (row.mean, ours) == documented[(dataset, metric)]
        else:
            assert row.mean == ours, (dataset, metric, row.mean, ours)
    assert all(r.std is None for r in t.rows_for("optimal"))


def test_darts_collapse_rows_equal_the_all_skip_cell(nb201):
    (skip,) = [r for r in nb201 if r["ops"] == ALL_SKIP]
    t = published_table("nb201_darts")
    for method in ("darts", "darts_2nd"):
        for (dataset, metric), column in COLUMNS.items():
            (row,) = t.rows_for(method, dataset, metric)
            assert row.mean == round(float(skip[column]), 2) and row.std == 0.0, (method, dataset, metric)
    assert t.rows_for("darts", "cifar10", "test_acc")[0].mean == 54.30  # the collapse the issue names
    assert [r.mean for r in t.rows_for("darts", metric="test_acc")] == [54.30, 15.61, 16.32]


@pytest.mark.parametrize("method,n_samples", [("naswot_n10", 10), ("naswot", 100)])
def test_naswot_rows_match_a_simulated_search_on_the_score_column(nb201, method, n_samples):
    """NASWOT's protocol rerun on the shared table's precomputed CIFAR-10 score: 500 runs, each the best-scored of
    N uniform samples. The recalled v2 CIFAR-10 means must lie within 3 standard errors of the difference of two
    500-run means. (N = 1000 is left out: there the simulation gives 92.81 ± 0.99 test against the recalled
    92.96 ± 0.81, 2.6 standard errors; see docs/published.md.)"""
    score = np.array([float(r["naswot_cifar10"]) for r in nb201])
    rng = np.random.default_rng(0)
    picks = np.array([(k := rng.integers(0, len(score), n_samples))[np.argmax(score[k])] for _ in range(500)])
    t = published_table("naswot_nb201")
    for metric, column in (("valid_acc", "cifar10_valid_acc"), ("test_acc", "cifar10_test_acc")):
        acc = np.array([float(nb201[i][column]) for i in picks])
        (row,) = t.rows_for(method, "cifar10", metric)
        se = np.hypot(acc.std(), row.std) / np.sqrt(500)
        assert abs(acc.mean() - row.mean) < 3 * se, (method, metric, acc.mean(), acc.std(), row.mean, row.std)
        assert abs(acc.std() - row.std) < 0.3


def test_darts_space_params_match_the_genotypes(darts_genotypes):
    """params_m against our network built from each published genotype (20 cells, 36 channels, no aux head).
    Documented difference: DARTS first order is printed as 3.3M, but its genotype gives 3.17M (one parametric op
    fewer than the second-order cell); the same gap is pinned in test_darts_networks."""
    from nasflat.spaces.darts import codec as dg
    from nasflat.spaces.darts.network import build_network
    from nasflat.spaces.ops import count_parameters

    genotypes = json.loads(Path(darts_genotypes).read_text())
    t = published_table("darts_cifar10")
    pairs = {"darts": "DARTS_V1", "darts_2nd": "DARTS_V2", "pc_darts": "PC_DARTS_cifar", "pdarts": "PDARTS"}
    documented = {"darts": (3.3, 3.2)}
    for method, key in pairs.items():
        (params,) = t.rows_for(method, "cifar10", "params_m")
        (error,) = t.rows_for(method, "cifar10", "test_error")
        entry = genotypes[key]
        assert params.mean == entry["params_M_reported"]  # the shared file recorded the same published numbers
        assert float(entry["cifar10_test_error_reported"].split("+-")[0]) == error.mean
        net = build_network(dg.from_json(entry), 10, kind="cifar", auxiliary=True)
        ours = round(count_parameters(net) / 1e6, 1)
        assert (params.mean, ours) == documented.get(method, (ours, ours)), (method, params.mean, ours)


def test_the_doc_page_lists_every_table_with_its_row_counts():
    """docs/published.md's summary table is the reader's index: each table, its space and row counts must match."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "published.md").read_text()
    for name, t in published_tables().items():
        verified = sum(r.source.verified for r in t.rows)
        counts = f"{len(t.rows)} ({verified})" if t.rows else "0"
        assert f"| `{name}` | {t.space} | {counts} |" in doc, name
        assert any(line.startswith("### ") and f"`{name}`" in line for line in doc.splitlines()), name  # a section
