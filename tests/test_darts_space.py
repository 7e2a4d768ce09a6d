"""DARTS space: Genotype formats and errors, GeNAS encoding, sampling/repair, derive, neighbors, supernet."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasflat.spaces.base import ArchFormatError
from nasflat.spaces.darts import DartsSpace, DartsSupernet
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.darts.codec import Genotype

# quark0's value type: its repr is the text researchers paste, so it is the reference for our printer.
QuarkGenotype = collections.namedtuple("QuarkGenotype", "normal normal_concat reduce reduce_concat")

GENAS_PUBLISHED = {
    "GENAS_FLATNESS_CIFAR10": (3, 6, 0, 4, 4, 0, 6, 6, 0, 0, 0, 0, 4, 3, 5, 2, 0, 6, 4, 0, 3, 0, 6, 0, 0, 5, 0, 7),
    "GENAS_ANGLE_FLATNESS_CIFAR10": (
        5,
        4,
        4,
        4,
        0,
        4,
        5,
        0,
        0,
        4,
        0,
        0,
        0,
        4,
        7,
        7,
        2,
        3,
        0,
        4,
        1,
        0,
        0,
        0,
        0,
        0,
        5,
        6,
    ),
    "GENAS_FLATNESS_CIFAR100": (3, 5, 0, 4, 4, 0, 0, 4, 5, 0, 4, 0, 0, 7, 6, 3, 2, 0, 5, 0, 5, 0, 7, 0, 1, 1, 0, 0),
    "GENAS_ANGLE_FLATNESS_CIFAR100": (
        3,
        5,
        1,
        4,
        0,
        0,
        4,
        0,
        4,
        0,
        4,
        0,
        0,
        5,
        6,
        4,
        0,
        7,
        2,
        1,
        3,
        0,
        0,
        0,
        4,
        0,
        0,
        7,
    ),
}

DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def published(path: Path) -> dict[str, dict]:
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def quark_text(entry: dict) -> str:
    """The text quark0's namedtuple prints for a json entry (list fields, tuple pairs)."""
    return repr(
        QuarkGenotype(
            [tuple(p) for p in entry["normal"]],
            entry["normal_concat"],
            [tuple(p) for p in entry["reduce"]],
            entry["reduce_concat"],
        )
    ).replace("QuarkGenotype(", "Genotype(", 1)


@pytest.fixture(scope="module")
def v2() -> Genotype:
    return dg.parse_genotype(DARTS_V2_TEXT)


# ---- formats ---------------------------------------------------------------------------------------------------------
def test_text_round_trip_is_byte_identical_for_published(darts_genotypes: Path) -> None:
    entries = published(darts_genotypes)
    assert len(entries) >= 6
    for name, entry in entries.items():
        text = quark_text(entry)
        g = dg.parse_genotype(text)
        assert dg.format_genotype(g) == text == repr(g) == str(g), name
        assert dg.from_json(entry) == g  # extra metadata keys are ignored
        assert dg.to_json(g) == {k: entry[k] for k in ("normal", "normal_concat", "reduce", "reduce_concat")}
        assert dg.from_json(json.dumps(dg.to_json(g))) == g
        assert Genotype.from_str(g.to_str()) == g and hash(g) == hash(dg.parse_genotype(text))


def test_parse_accepts_quark0_source_style(v2: Genotype) -> None:
    source = """genotypes.Genotype(
        normal = [
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
            ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2),
        ],
        normal_concat = range(2, 6),
        reduce = (('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1),
                  ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)),
        reduce_concat = [2, 3, 4, 5],
    )"""
    g = dg.parse_genotype(source)
    assert g == v2 and g.normal_concat == (2, 3, 4, 5)
    assert dg.format_genotype(g) == DARTS_V2_TEXT  # range(2, 6) is normalised to [2, 3, 4, 5]
    positional = DARTS_V2_TEXT.replace("normal=", "").replace("normal_concat=", "")
    assert dg.parse_genotype(positional) == v2


def test_constructor_normalises_and_is_a_hashable_value(v2: Genotype) -> None:
    g = Genotype(
        normal=[list(p) for p in v2.normal],
        normal_concat=range(2, 6),
        reduce=list(v2.reduce),
        reduce_concat=[2, 3, 4, 5],
    )
    assert g == v2 and isinstance(g.normal, tuple) and isinstance(g.normal[0], tuple)
    assert len({g, v2}) == 1
    with pytest.raises(AttributeError):
        g.normal = ()  # type: ignore[misc]


BAD_TEXTS = [
    (
        DARTS_V2_TEXT.replace("'dil_conv_3x3', 2", "'sep_conv_7x7', 2"),
        ["normal cell, node 5, edge 2 of 2", "unknown op 'sep_conv_7x7'", "valid ops: max_pool_3x3, avg_pool_3x3"],
    ),
    (
        DARTS_V2_TEXT.replace(
            "('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0)",
            "('skip_connect', 4), ('max_pool_3x3', 1), ('max_pool_3x3', 0)",
        ),
        ["reduce cell, node 3, edge 1 of 2", "input 4 out of range for node 3", "0..2"],
    ),
    (
        DARTS_V2_TEXT.replace(
            "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
            "('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0)",
            1,
        ),
        ["normal cell, node 2: input 0 is used twice"],
    ),
    (
        DARTS_V2_TEXT.replace("('skip_connect', 0), ('dil_conv_3x3', 2)", "('none', 0), ('dil_conv_3x3', 2)"),
        ["normal cell, node 5, edge 1 of 2", "'none' cannot be a chosen op"],
    ),
    (DARTS_V2_TEXT.replace(", ('dil_conv_3x3', 2)]", "]"), ["normal cell", "expected 8 (op, input) pairs", "got 7"]),
    (
        DARTS_V2_TEXT.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 'two')"),
        ["normal cell, node 5, edge 2 of 2", "input must be an integer"],
    ),
    (DARTS_V2_TEXT.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 2, 1)"), ["expected an (op, input) pair"]),
    (
        DARTS_V2_TEXT.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[2, 3, 9]"),
        ["reduce_concat", "intermediate nodes in 2..5"],
    ),
    (DARTS_V2_TEXT.replace(", reduce_concat=[2, 3, 4, 5]", ""), ["missing field(s) reduce_concat"]),
    (DARTS_V2_TEXT.replace("reduce_concat=", "reduce_cat="), ["unknown field 'reduce_cat'"]),
    (
        DARTS_V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4, 5], normal_concat=[2]"),
        ["field 'normal_concat' given twice"],
    ),
    (DARTS_V2_TEXT + "; import os", ["unexpected character ';'", "column"]),
    (DARTS_V2_TEXT + ")", ["unexpected text after the closing parenthesis"]),
    (DARTS_V2_TEXT[:-1], ["expected ')'", "end of text"]),
    ("Genotype(normal=open('x'))", ["expected a list, tuple, integer, string or range(...), found 'open'"]),
    ("Genotype(normal=__import__('os').system('true'))", ["unexpected character '.'"]),
    ("NASNet(normal=[])", ["expected 'Genotype(...)'"]),
]


@pytest.mark.parametrize(("text", "needles"), BAD_TEXTS)
def test_malformed_text_gives_clear_errors(text: str, needles: list[str]) -> None:
    with pytest.raises(ArchFormatError) as err:
        dg.parse_genotype(text)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def test_json_errors() -> None:
    with pytest.raises(ArchFormatError, match="lacks key"):
        dg.from_json({"normal": []})
    with pytest.raises(ArchFormatError, match="does not parse"):
        dg.from_json("{oops")
    with pytest.raises(ArchFormatError, match="not a DARTS architecture"):
        DartsSpace().validate(3.5)


# ---- GeNAS encoding --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(GENAS_PUBLISHED))
def test_genas_published_tuples_decode_and_reencode(name: str) -> None:
    code = GENAS_PUBLISHED[name]
    g = dg.decode_genas(code)
    assert Genotype(**dg.to_json(g)) == g  # valid
    assert tuple(DartsSpace().encode(g)) == code
    assert DartsSpace().validate(list(code)) == g


def test_genas_decoding_follows_parse_searched_cell() -> None:
    g = dg.decode_genas(GENAS_PUBLISHED["GENAS_FLATNESS_CIFAR10"])
    assert g.normal == (
        ("skip_connect", 0), ("dil_conv_3x3", 1), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
        ("dil_conv_3x3", 1), ("dil_conv_3x3", 2), ("sep_conv_3x3", 3), ("skip_connect", 4),
    )  # fmt: skip
    assert g.reduce[:2] == (("sep_conv_5x5", 0), ("avg_pool_3x3", 1)) and g.reduce_concat == (2, 3, 4, 5)


def test_genas_errors(v2: Genotype) -> None:
    code = list(GENAS_PUBLISHED["GENAS_FLATNESS_CIFAR10"])
    with pytest.raises(ArchFormatError, match="28 integers"):
        dg.decode_genas(code[:27])
    bad = list(code)
    bad[2] = 5  # node 3 now has three non-zero edges
    with pytest.raises(ArchFormatError, match=r"normal cell, node 3: 3 non-zero edges \(inputs \[0, 1, 2\]\)"):
        dg.decode_genas(bad)
    bad = list(code)
    bad[14 + 1] = 0  # reduce node 2 keeps one edge
    with pytest.raises(ArchFormatError, match="reduce cell, node 2: 1 non-zero edges"):
        dg.decode_genas(bad)
    bad = list(code)
    bad[0] = 8
    with pytest.raises(ArchFormatError, match=r"8 is not an op index 0\.\.7"):
        dg.decode_genas(bad)
    with pytest.raises(ArchFormatError, match="darts8"):
        DartsSpace("darts7").encode(v2)


# ---- sampling and the SPOS repair rule -------------------------------------------------------------------------------
def nonzero_per_node(dense: list[int]) -> list[int]:
    return [sum(1 for v in dense[o : o + n] if v) for o, n in zip(dg.NODE_OFFSETS, (2, 3, 4, 5))]


@pytest.mark.parametrize("op_set", ["darts8", "darts7"])
def test_sampling_repair_rule_holds_for_10000_archs(op_set: str) -> None:
    space, rng = DartsSpace(op_set), np.random.default_rng(0)
    ops_seen, inputs_seen = set(), set()
    for _ in range(10_000):
        g = space.sample(rng)
        assert isinstance(g, Genotype)
        for cell in dg.CELLS:
            assert nonzero_per_node(dg.cell_to_dense(g.cell(cell))) == [2, 2, 2, 2]
            ops_seen.update(op for op, _ in g.cell(cell))
            inputs_seen.update((slot // 2, j) for slot, (_, j) in enumerate(g.cell(cell)))
    assert ops_seen == set(dg.CHOOSABLE_OPS)
    assert inputs_seen == {(n, j) for n in range(4) for j in range(n + 2)}
    a, b = space.sample(np.random.default_rng(7)), space.sample(np.random.default_rng(7))
    assert a == b  # explicit RNG -> reproducible


def test_spos_repair_matches_check_cand_rule() -> None:
    rng = np.random.default_rng(1)
    for cell in ([0] * 14, [5] * 14, list(rng.integers(8, size=14))):
        fixed = dg.spos_repair(cell, rng)
        assert nonzero_per_node(fixed) == [2, 2, 2, 2]
        # edges that already had the state the rule wants are kept: a non-none op is never changed to another op
        assert all(f == c or 0 in (f, c) for f, c in zip(fixed, cell))
    valid = dg.cell_to_dense(dg.decode_genas(GENAS_PUBLISHED["GENAS_FLATNESS_CIFAR100"]).normal)
    assert dg.spos_repair(valid, rng) == valid


# ---- derive / one_hot / weight shapes --------------------------------------------------------------------------------
def test_derive_follows_darts_rule() -> None:
    space = DartsSpace("darts8")
    w = torch.full((14, 8), 0.01)
    # node 2: edge from 0 dominated by `none` -> still ranked by its best non-none op
    w[0, 0], w[0, 4] = 0.9, 0.05
    w[1, 6] = 0.3
    # node 3 (edges 2..4): input 2 strongest, then input 0; input 1 has a huge `none` only
    w[4, 5], w[2, 1], w[3, 0] = 0.8, 0.5, 0.99
    g = space.derive({"normal": w, "reduce": w})
    assert g.normal[:4] == (("dil_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 2), ("max_pool_3x3", 0))
    assert space.weight_shapes() == {"normal": (14, 8), "reduce": (14, 8)}
    # darts7 ranks edges by the max over all 7 ops
    space7 = DartsSpace("darts7")
    assert space7.weight_shapes() == {"normal": (14, 7), "reduce": (14, 7)}
    g7 = space7.derive({"normal": w[:, 1:], "reduce": w[:, 1:].numpy()})
    assert g7.normal[:2] == (("dil_conv_3x3", 1), ("sep_conv_3x3", 0))
    with pytest.raises(ValueError, match=r"shape \(14, 7\)"):
        space7.derive({"normal": w, "reduce": w})


@pytest.mark.parametrize("op_set", ["darts8", "darts7"])
def test_one_hot_selects_exactly_the_genotype(op_set: str, v2: Genotype) -> None:
    space = DartsSpace(op_set)
    oh = space.one_hot(v2)
    for cell in dg.CELLS:
        w = oh[cell]
        assert w.shape == (14, len(space.ops))
        chosen = {dg.edge_index(2 + s // 2, j): space.ops.index(op) for s, (op, j) in enumerate(v2.cell(cell))}
        for e in range(14):
            expected = torch.zeros(len(space.ops))
            if e in chosen:
                expected[chosen[e]] = 1
            elif op_set == "darts8":
                expected[0] = 1  # `none`
            assert torch.equal(w[e], expected)
    assert space.derive(oh) == dg.canonical(v2)  # derive lists a node's edges by strength, ties by input


def test_param_free_ops(v2: Genotype) -> None:
    assert DartsSpace().param_free_ops(v2) == 2 + 8  # normal: 2 skips; reduce: 5 max-pools + 3 skips


# ---- canonical, neighbors, mutate ------------------------------------------------------------------------------------
def test_canonical_ignores_the_order_of_a_nodes_inputs(v2: Genotype) -> None:
    swapped = Genotype(v2.normal[1::-1] + v2.normal[2:], v2.normal_concat, v2.reduce, v2.reduce_concat)
    assert swapped != v2  # the value keeps the given order (published texts round-trip)
    space = DartsSpace()
    assert space.canonical(swapped) == space.canonical(v2)
    assert {dg._key(g) for g in space.neighbors(swapped)} == {dg._key(g) for g in space.neighbors(v2)}


def differing_slots(a: Genotype, b: Genotype) -> int:
    return sum(p != q for c in dg.CELLS for p, q in zip(a.cell(c), b.cell(c)))


def test_neighbors_radius_1_is_exact(darts_genotypes: Path) -> None:
    space = DartsSpace()
    archs = [dg.from_json(e) for e in published(darts_genotypes).values()]
    archs += [space.sample(np.random.default_rng(s)) for s in range(3)]
    for a in archs:
        nbrs = space.neighbors(a, 1)
        assert len(nbrs) == 120  # per cell: 2 edges x (6 ops + k-2 free inputs) for k = 2..5 -> 60
        assert len({space.canonical(n) for n in nbrs}) == 120 and space.canonical(a) not in {
            space.canonical(n) for n in nbrs
        }
        for n in nbrs:
            assert Genotype(**dg.to_json(n)) == n  # valid
            assert differing_slots(a, n) == 1
        assert space.neighbors(a, 1) == nbrs  # deterministic


def test_neighbors_radius_2(v2: Genotype) -> None:
    space = DartsSpace()
    r1 = space.neighbors(v2, 1)
    r2 = space.neighbors(v2, 2)
    k1 = {dg._key(g) for g in r1}
    k2 = {dg._key(g) for g in r2}
    assert len(k2) == len(r2) > len(r1)
    assert not k2 & k1 and dg._key(v2) not in k2
    reachable = {dg._key(b) for a in r1 for b in dg.one_move(a)}
    assert k2 == reachable - k1 - {dg._key(v2)}
    assert [dg._key(g) for g in space.neighborhood(v2, 2)] == [dg._key(g) for g in r1 + r2]


def test_mutate_is_a_uniform_one_hop_neighbor(v2: Genotype) -> None:
    space, rng = DartsSpace("darts7"), np.random.default_rng(0)
    nbrs = set(space.neighbors(v2, 1))
    draws = [space.mutate(v2, rng) for _ in range(3000)]
    assert set(draws) <= nbrs
    assert set(draws) == nbrs  # 3000 draws over 120 neighbors: missing one has probability ~1e-9
    counts = collections.Counter(draws)
    assert max(counts.values()) < 3 * 3000 / 120


# ---- supernet --------------------------------------------------------------------------------------------------------
def tiny_supernet(op_set: str, affine: bool = False, seed: int = 0) -> DartsSupernet:
    torch.manual_seed(seed)
    net = DartsSpace(op_set).supernet(10, C=4, layers=5, affine=affine)
    # non-trivial BN running stats, so eval mode is a real test of the shared statistics
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.mark.parametrize(("op_set", "affine"), [("darts8", False), ("darts8", True), ("darts7", False)])
def test_supernet_mixture_with_one_hot_equals_single_path(op_set: str, affine: bool) -> None:
    space, net = DartsSpace(op_set), tiny_supernet(op_set, affine)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(3)
    with torch.no_grad():
        for _ in range(3):
            a = space.sample(rng)
            single = net(x, a)
            assert single.shape == (2, 10)
            torch.testing.assert_close(net(x, space.one_hot(a)), single, atol=1e-5, rtol=1e-5)
            dense = dg.cell_to_dense(a.normal) + dg.cell_to_dense(a.reduce)  # the SPOS candidate form
            torch.testing.assert_close(net(x, dense), single, atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(net(x, {"normal": dense[:14], "reduce": dense[14:]}), single)


def test_supernet_mixture_matches_manual_sum_and_gives_weight_gradients() -> None:
    net = tiny_supernet("darts8")
    x = torch.randn(2, 3, 8, 8)
    alphas = {c: torch.randn(14, 8, requires_grad=True) for c in dg.CELLS}
    out = net(x, {c: a.softmax(-1) for c, a in alphas.items()})
    out.sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas.values())
    # MixedOp on one edge is the weighted sum of its ops
    edge, h = net.cells[0].edges[3], torch.randn(2, 4, 8, 8)
    w = torch.rand(8)
    with torch.no_grad():
        torch.testing.assert_close(edge(h, w), sum(w[k] * op(h) for k, op in enumerate(edge.ops)))


def test_supernet_affine_flag_and_structure() -> None:
    plain, affine = DartsSupernet(10, C=4, layers=5), DartsSupernet(10, C=4, layers=5, affine=True)
    assert len(plain.cells[0].edges) == 14 and len(plain.cells[0].edges[0].ops) == 8
    assert [c.reduction for c in plain.cells] == [False, True, False, True, False]
    pool = plain.cells[0].edges[0].ops[1]  # max_pool_3x3 followed by BN
    assert isinstance(pool[1], torch.nn.BatchNorm2d) and not pool[1].affine
    assert affine.cells[0].edges[0].ops[1][1].affine
    cell_bn = [m for m in plain.cells.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert cell_bn and not any(m.affine for m in cell_bn)
    assert all(m.affine for m in affine.cells.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert len(DartsSupernet(10, C=4, layers=5, op_set="darts7").cells[0].edges[0].ops) == 7
    # defaults: 8 cells, C=16, reductions at cells 2 and 5
    default = DartsSpace().supernet(10)
    assert [i for i, c in enumerate(default.cells) if c.reduction] == [2, 5] and default.stem[0].out_channels == 48


def test_supernet_float64_and_channels_last(v2: Genotype) -> None:
    net = tiny_supernet("darts8")
    x = torch.randn(2, 3, 8, 8)
    w = {c: torch.rand(14, 8).softmax(-1) for c in dg.CELLS}
    with torch.no_grad():
        ref_path, ref_mix = net(x, v2), net(x, w)
        cl = x.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(net(cl, v2), ref_path, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(net(cl, w), ref_mix, atol=1e-5, rtol=1e-5)
        net64 = net.double()
        out64 = net64(x.double(), v2)
        assert out64.dtype == torch.float64
        torch.testing.assert_close(out64.float(), ref_path, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(net64(x.double(), {c: v.double() for c, v in w.items()}).float(), ref_mix,
                                   atol=1e-5, rtol=1e-4)  # fmt: skip


def test_supernet_rejects_bad_choices(v2: Genotype) -> None:
    net = tiny_supernet("darts8")
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"shape \(14, 8\)"):
        net(x, {"normal": torch.rand(14, 7), "reduce": torch.rand(14, 7)})
    with pytest.raises(ValueError, match="lacks"):
        net(x, {"normal": torch.rand(14, 8)})
    with pytest.raises(TypeError, match="choice must be"):
        net(x, "sep_conv_3x3")
    with pytest.raises(ArchFormatError, match="concat"):
        net(x, Genotype(v2.normal, [2, 3, 4], v2.reduce, v2.reduce_concat))
    # a dense candidate whose node has no input at all still runs (zeros), as in GeNAS's supernet
    empty = [0] * 28
    assert net(x, empty).shape == (1, 10)


@pytest.mark.slow
def test_neighbors_radius_3_is_the_next_bfs_layer(v2: Genotype) -> None:
    space = DartsSpace()
    r2, r3 = space.neighbors(v2, 2), space.neighbors(v2, 3)
    closer = {dg._key(v2)} | {dg._key(g) for g in space.neighbors(v2, 1) + r2}
    k3 = {dg._key(g) for g in r3}
    assert len(k3) == len(r3) > len(r2) and not k3 & closer
    assert k3 == {dg._key(b) for a in r2 for b in dg.one_move(a)} - closer


@pytest.mark.slow
@pytest.mark.parametrize("affine", [False, True])
def test_default_size_supernet_equivalence(affine: bool) -> None:
    space = DartsSpace()
    torch.manual_seed(0)
    net = space.supernet(10, affine=affine).eval()  # 8 cells, C=16
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for a in (space.sample(np.random.default_rng(s)) for s in range(2)):
            torch.testing.assert_close(net(x, space.one_hot(a)), net(x, a), atol=1e-5, rtol=1e-5)
