"""`analyze landscape`: every number is checked against plain Python loops over NB201Space.neighbors, brute force
over all shortest paths / subsets, or a closed form; the acceptance figures on the real table are checked too."""

from __future__ import annotations

import itertools
import json
import logging
import math
import statistics

import numpy as np
import pytest

from nasflat import cli
from nasflat.analysis import landscape as ls
from nasflat.analysis.landscape_clusters import clustering, distance_histogram, top_rows
from nasflat.analysis.landscape_generalization import selections, topology_correlations
from nasflat.analysis.landscape_paths import barrier
from nasflat.benchmarks.nb201 import NB201Table, write_table
from nasflat.spaces.nb201 import NB201Arch, NB201Space, unique_str

SPACE = NB201Space()
ALL = [tuple(a) for a in itertools.product(range(5), repeat=6)]


@pytest.fixture(scope="module")
def full():
    """Every NB201 cell with a synthetic metric that has ties (rounded to 0.5)."""
    rng = np.random.default_rng(0)
    value = np.round(rng.uniform(10, 95, size=len(ALL)) * 2) / 2
    return ls.ArchGrid.from_ops(ALL), value


def brute_neighbors(arch, r, lookup):
    """Values of the radius-r neighbors present in ``lookup`` (arch tuple -> value), by NB201Space.neighbors."""
    return [lookup[tuple(n)] for n in SPACE.neighbors(NB201Arch(arch), r) if tuple(n) in lookup]


def summary(xs):
    return (statistics.fmean(xs), statistics.pstdev(xs), min(xs), max(xs), len(xs))


# ---- neighborhoods ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("r", range(7))
def test_neighbor_counts_match_closed_form_and_space(r):
    assert ls.neighbor_count(r) == math.comb(6, r) * 4**r
    assert len(ls.shifts(r)) == ls.neighbor_count(r) == len(SPACE.neighbors(NB201Arch(ALL[77]), r))


@pytest.mark.parametrize("r", [1, 2, 3])
def test_neighbor_rows_are_exactly_the_space_neighbors(full, r):
    grid, _ = full
    centres = np.array([0, 1234, 15624])
    rows = grid.neighbor_rows(centres, r)
    for c, got in zip(centres, rows):
        want = {tuple(n) for n in SPACE.neighbors(NB201Arch(ALL[c]), r)}
        assert {ALL[i] for i in got} == want and len(set(got.tolist())) == len(want)


@pytest.mark.parametrize("drop", [0.0, 0.3])  # 0.3: a partial table, absent neighbors are skipped and counted
def test_neighborhood_stats_match_loops(full, drop):
    _, value = full
    keep = np.random.default_rng(1).random(len(ALL)) >= drop
    sub = ls.ArchGrid.from_ops(np.array(ALL)[keep])
    v = value[keep]
    lookup = {tuple(a): x for a, x in zip(sub.ops.tolist(), v)}
    for r in (1, 2, 3):
        stats = ls.neighborhood_stats(sub, ls.Values(v), r, chunk=999)
        for i in (0, 5, len(v) // 2, len(v) - 1):
            want = summary(brute_neighbors(sub.ops[i], r, lookup))
            got = tuple(stats[k][i] for k in ls.STATS)
            assert got == pytest.approx(want)


def test_dedup_drops_the_centre_class_and_duplicates(full):
    grid, value = full
    keys = [unique_str(a) for a in ALL]
    arch_index = np.arange(len(ALL))[::-1].copy()  # representative = lowest arch_index = last row of a class
    rep = {}
    for i in sorted(range(len(ALL)), key=lambda i: arch_index[i]):
        rep.setdefault(keys[i], value[i])
    values = ls.Values.dedup(value, keys, arch_index)
    for r in (1, 2):
        stats = ls.neighborhood_stats(grid, values, r)
        for i in (0, 7, 3125, 15624):
            classes = {unique_str(n) for n in SPACE.neighbors(NB201Arch(ALL[i]), r)} - {keys[i]}
            want = summary([rep[c] for c in classes])
            assert tuple(stats[k][i] for k in ls.STATS) == pytest.approx(want)
    assert sorted(values.population()) == pytest.approx(sorted(rep.values()))


def test_neighborhood_mean_includes_the_centre(full):
    grid, value = full
    lookup = dict(zip(ALL, value))
    got = ls.neighborhood_mean(grid, value, radius=2)
    for i in (3, 999):
        xs = [value[i], *brute_neighbors(ALL[i], 1, lookup), *brute_neighbors(ALL[i], 2, lookup)]
        assert got[i] == pytest.approx(statistics.fmean(xs))


# ---- reference models and radius curves -------------------------------------------------------------------------
def a2m_rank_by_test_acc(accs, marks):
    """AsquaredM profile_nasbench.py rank_by_test_acc, restated: stable sort by accuracy, scan from the top."""
    pairs = sorted(zip(accs, range(len(accs))), key=lambda x: x[0])
    out, found = [pairs[-1][1]], [False, False]
    for acc, idx in reversed(pairs):
        for j, mark in enumerate(marks):
            if not found[j] and acc < mark:
                out.append(idx)
                found[j] = True
    return out


def test_reference_rows_follow_a2m_scan_order_with_ties(full):
    _, value = full
    got = ls.reference_rows(value, np.arange(len(value)), (85.0, 75.0))
    assert [got["best"], got["below_average_mark"], got["below_bad_mark"]] == a2m_rank_by_test_acc(value, (85, 75))
    assert value[got["below_average_mark"]] == value[value < 85].max()  # the best below the mark, not index order


def test_radius_profile_is_own_value_then_neighbor_stats(full):
    grid, value = full
    lookup = dict(zip(ALL, value))
    stats, samples = ls.radius_profile(grid, ls.Values(value), 4321, (1, 3))
    assert [stats[k][0] for k in ls.STATS] == [value[4321], 0.0, value[4321], value[4321], 1]
    for j, r in enumerate((1, 3), start=1):
        want = summary(brute_neighbors(ALL[4321], r, lookup))
        assert (stats["mean"][j], stats["std"][j], stats["min"][j], stats["max"][j]) == pytest.approx(want[:4])
        assert sorted(samples[j - 1]) == pytest.approx(sorted(brute_neighbors(ALL[4321], r, lookup)))


# ---- clustering -------------------------------------------------------------------------------------------------
def test_distance_histogram_matches_pairs_and_closed_form(full):
    grid, _ = full
    sub = grid.ops[np.random.default_rng(2).choice(len(ALL), 120, replace=False)]
    want = [0] * 7
    for i, j in itertools.combinations(range(len(sub)), 2):
        want[sum(a != b for a, b in zip(sub[i], sub[j]))] += 1
    assert distance_histogram(sub).tolist() == want
    closed = [5**6 * math.comb(6, d) * 4**d // 2 for d in range(7)]
    closed[0] = 0
    assert distance_histogram(grid.ops).tolist() == closed


def test_clustering_fractions_match_brute_force():
    rng = np.random.default_rng(3)
    ops = np.array(ALL)[rng.choice(len(ALL), 30, replace=False)]
    ops[1] = ops[0]
    ops[1][0] = (ops[0][0] + 1) % 5  # at least one pair at distance 1
    grid, value = ls.ArchGrid.from_ops(ops), rng.uniform(0, 1, 30)
    got = clustering(grid, value, np.arange(30), q=10.0, radii=(1, 2, 4))  # top 3
    top = top_rows(value, np.arange(30), 10.0)
    dist = lambda i, j: sum(a != b for a, b in zip(ops[i], ops[j]))  # noqa: E731
    for r in (1, 2, 4):
        assert got.near[r] == pytest.approx(statistics.fmean(any(dist(i, j) <= r for j in top if j != i) for i in top))
        subsets = list(itertools.combinations(range(30), 3))
        frac = [statistics.fmean(any(dist(i, j) <= r for j in s if j != i) for i in s) for s in subsets]
        assert got.near_random[r] == pytest.approx(statistics.fmean(frac))


# ---- barriers ---------------------------------------------------------------------------------------------------
def brute_barrier(a, b, lookup):
    diff = [e for e in range(6) if a[e] != b[e]]
    paths = []
    for order in itertools.permutations(diff):
        cur, path = list(a), [tuple(a)]
        for e in order:
            cur[e] = b[e]
            path.append(tuple(cur))
        paths.append(path)
    worse = min(lookup[tuple(a)], lookup[tuple(b)])
    drops = [max(0.0, worse - min(lookup[x] for x in p[1:-1])) if len(p) > 2 else 0.0 for p in paths]
    inner = [lookup[x] for p in paths for x in p[1:-1]]
    a2m = 0.5 * (lookup[tuple(a)] + lookup[tuple(b)]) - min(inner) if inner else float("nan")
    levels = [statistics.fmean(lookup[p[k]] for p in paths) for k in range(len(diff) + 1)]
    return min(drops), paths, drops, a2m, levels


@pytest.mark.parametrize("pair", [(0, 15624), (17, 4000), (123, 124), (9000, 9000 + 25 + 5)])
def test_barrier_is_the_minimax_over_all_shortest_paths(full, pair):
    grid, value = full
    lookup = dict(zip(ALL, value))
    ours, paths, drops, a2m, levels = brute_barrier(ALL[pair[0]], ALL[pair[1]], lookup)
    got = barrier(grid, value, *pair)
    assert got.barrier == pytest.approx(ours)
    assert got.level_means == pytest.approx(levels)
    assert got.a2m_barrier == pytest.approx(a2m, nan_ok=True)
    path = tuple(ALL[r] for r in got.path)
    assert path in [tuple(p) for p in paths] and drops[[tuple(p) for p in paths].index(path)] == pytest.approx(ours)


# ---- generalization and topology ---------------------------------------------------------------------------------
def brute_tau_b(x, y):
    conc = disc = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            tx += 1
        elif dy == 0:
            ty += 1
        elif dx * dy > 0:
            conc += 1
        else:
            disc += 1
    return (conc - disc) / math.sqrt((conc + disc + tx) * (conc + disc + ty))


def test_selections_match_loops():
    rng = np.random.default_rng(4)
    ops = np.array(ALL)[rng.choice(len(ALL), 60, replace=False)]
    grid = ls.ArchGrid.from_ops(ops)
    cols = {(d, s): np.round(rng.uniform(10, 90, 60), 1) for d in ("cifar10", "cifar100", "imagenet16_120")
            for s in ("valid", "test")}  # fmt: skip
    lookup = {d: dict(zip(map(tuple, ops.tolist()), cols[(d, "valid")])) for d in ("cifar10", "cifar100")}
    got = selections(grid, lambda d, s: cols[(d, s)], np.arange(60), radius=1, ks=(5,))
    for g in got:
        if g.select not in lookup:
            continue
        if g.criterion == "own valid":
            score = list(cols[(g.select, "valid")])
        else:
            score = [statistics.fmean([lookup[g.select][tuple(a)], *brute_neighbors(a, 1, lookup[g.select])])
                     for a in ops.tolist()]  # fmt: skip
        test = list(cols[(g.target, "test")])
        assert g.tau == pytest.approx(brute_tau_b(score, test))
        best = max(range(60), key=lambda i: (score[i], i))  # ties: higher index first, as A²M's scan
        assert g.chosen_test == test[best] and g.best_test == max(test)
        top_s = sorted(range(60), key=lambda i: -score[i])[:5]
        assert g.precision[5] == pytest.approx(sum(test[i] >= sorted(test)[-5] for i in top_s) / 5)


def test_topology_groups_are_plain_means():
    width, depth = np.array([0, 1, 1, 2.0]), np.array([1, 2, 3, 3.0])
    value = np.array([10, 20, 30, 50.0])
    corr, groups = topology_correlations(width, depth, value)
    assert corr[0]["kendall_tau"] == pytest.approx(brute_tau_b(list(width), list(value)))
    assert {(g["feature"], g["value"]): g["mean"] for g in groups}[("width", 1.0)] == 25.0
    assert {(g["feature"], g["value"]): g["count"] for g in groups}[("depth", 3.0)] == 2


# ---- the real table: acceptance figures --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def table(nb201_csv):
    return NB201Table.load(nb201_csv)


def test_real_radius_curves_match_loops(table):
    grid = ls.ArchGrid.from_ops([list(a) for a in table.archs])
    for ds in ("cifar10", "cifar100", "imagenet16_120"):
        value = table.column(ds, "test")
        refs = ls.reference_rows(value, table.arch_index, ls.A2M_MARKS[ds])
        rows = refs.values() if ds == "cifar10" else [refs["best"]]
        for row in rows:
            stats, _ = ls.radius_profile(grid, ls.Values(value), row)
            want = [table.query(table.archs[row], ds, "test")]
            want += [statistics.fmean(table.query(n, ds, "test") for n in SPACE.neighbors(table.archs[row], r))
                     for r in (1, 2, 3)]  # fmt: skip
            assert stats["mean"] == pytest.approx(want)
    best = ls.reference_rows(table.column("cifar10", "test"), table.arch_index, (85, 75))["best"]
    assert table.index(table.archs[best]) == 13714  # the well-known CIFAR-10 optimum, 94.37


def test_real_top5_barriers_match_brute_force(table):
    grid = ls.ArchGrid.from_ops([list(a) for a in table.archs])
    value = np.asarray(table.column("cifar10", "test"))
    lookup = {tuple(a): float(x) for a, x in zip(table.archs, value)}
    top = ls.descending(value, table.arch_index)[:5]
    for i, j in itertools.combinations(top, 2):
        ours, _, _, a2m, _ = brute_barrier(table.archs[i], table.archs[j], lookup)
        got = barrier(grid, value, int(i), int(j))
        assert got.barrier == pytest.approx(ours) and got.a2m_barrier == pytest.approx(a2m, nan_ok=True)


# ---- the command ----------------------------------------------------------------------------------------------
@pytest.fixture
def small_table(tmp_path):
    """729 cells (ops 0..2 on every edge: shortest paths stay inside) with valid/test columns from the ops."""
    rng = np.random.default_rng(5)
    rows = []
    for k, a in enumerate(itertools.product(range(3), repeat=6)):
        base = 10 + 14 * sum(a) / 2 + rng.uniform(0, 5)
        row = {"arch_index": k, "arch_str": str(NB201Arch(a)), "naswot_cifar10": None}
        for d, scale in (("cifar10", 1.0), ("cifar100", 0.7), ("imagenet16", 0.45)):
            row[f"{d}_valid_acc"] = min(99.0, base * scale + rng.uniform(0, 1))
            row[f"{d}_test_acc"] = min(99.0, base * scale + rng.uniform(0, 1))
            row[f"params_{d}"] = 1000 + k
        rows.append(row)
    return write_table(rows, tmp_path / "small.csv")


def test_cli_on_a_small_table_writes_every_file(small_table, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_table", lambda cfg: NB201Table.load(cfg.benchmark.nb201_table, expected_rows=None))
    library_log = logging.getLogger("nasflat.context")
    cli.main(["analyze", "landscape", "split=test", "arch=0,|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|",
              f"out_root={tmp_path}", f"benchmark.nb201_table={small_table}"])  # fmt: skip
    assert not library_log.disabled  # the command's logging config leaves library warnings on
    out = tmp_path / "analyze" / "landscape"
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    names = {p.name for p in run.iterdir()}
    assert {"landscape.md", "landscape.csv", "landscape.json", "radius_curves.png", "clustering.png"} <= names
    assert {f"neighbors_r{r}.png" for r in (1, 2, 3)} <= names
    res = json.loads((run / "landscape.json").read_text())
    table = NB201Table.load(small_table, expected_rows=None)
    lookup = {tuple(a): table.query(a, "cifar10", "test") for a in table.archs}
    ref = res["references"][3]  # arch=0
    assert ref["arch_index"] == 0
    assert ref["curve"]["mean"][1] == pytest.approx(statistics.fmean(brute_neighbors(table.archs[0], 1, lookup)))
    assert ref["curve"]["count"][1:] == [12, 60, 160]  # C(6,r)·2^r: only ops 0..2 are in the table
    assert "Radius curves, cifar10 test" in capsys.readouterr().out


def test_cli_refuses_missing_split_and_bad_values(tmp_path, capsys):
    for args, text in (
        ([], "split=valid|test"),
        (["split=tst", "top_q=500"], "landscape.top_q=500"),
        (["split=test", "dataset=digits"], "landscape.dataset=digits: not an option"),
    ):
        with pytest.raises(SystemExit) as e:
            cli.main(["analyze", "landscape", *args, f"out_root={tmp_path}"])
        assert e.value.code == 2 and text in capsys.readouterr().err


def test_cli_names_the_table_key_when_it_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NASFLAT_NB201_TABLE", raising=False)
    with pytest.raises(SystemExit) as e:
        cli.main(["analyze", "landscape", "split=valid", f"out_root={tmp_path}"])
    assert e.value.code == 1 and "benchmark.nb201_table" in capsys.readouterr().err
