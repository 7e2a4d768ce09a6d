"""RobustDARTS's S1–S4 on the DARTS cell: op lists, per-edge derivation, sampling/moves, networks, the noise op."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasflat.spaces.base import ArchFormatError
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.darts.codec import CELLS, Genotype
from nasflat.spaces.darts.network import build_network
from nasflat.spaces.darts.op_sets import S1_FILE, get_op_set
from nasflat.spaces.ops import NoiseOp, count_parameters

ROBUST = ("s1", "s2", "s3", "s4")
S1_PATH = Path(dg.__file__).with_name(S1_FILE)


def chosen_ops_are_offered(space: DartsSpace, g: Genotype) -> bool:
    return all(
        op in space.ops_of(cell, dg.edge_index(2 + slot // 2, j))
        for cell in CELLS
        for slot, (op, j) in enumerate(g.cell(cell))
    )


# ---- the op lists ----------------------------------------------------------------------------------------------------
def test_shipped_s1_file_has_provenance_and_robustdarts_lists() -> None:
    data = json.loads(S1_PATH.read_text())
    src = data["source"]
    assert src["repo"] == "automl/RobustDARTS" and src["file"] == "src/spaces.py"
    assert len(src["commit"]) == 40 and int(src["commit"], 16) >= 0
    s1 = DartsSpace("s1")
    # spot checks against primitives_1 of RobustDARTS's src/spaces.py
    assert s1.ops_of("normal", 0) == ("skip_connect", "dil_conv_3x3")
    assert s1.ops_of("normal", 5) == ("max_pool_3x3", "skip_connect")
    assert s1.ops_of("normal", 13) == ("dil_conv_3x3", "dil_conv_5x5")
    assert s1.ops_of("reduce", 1) == ("max_pool_3x3", "dil_conv_3x3")
    assert s1.ops_of("reduce", 6) == ("max_pool_3x3", "sep_conv_3x3")
    assert s1.ops_of("reduce", 13) == ("skip_connect", "dil_conv_5x5")
    assert sum(ops == ("max_pool_3x3", "avg_pool_3x3") for ops in s1.edge_ops.reduce) == 6
    with pytest.raises(ValueError, match="different op list per edge"):
        _ = s1.ops


def test_uniform_sets_and_weight_shapes() -> None:
    assert DartsSpace("s2").ops == ("skip_connect", "sep_conv_3x3")
    assert DartsSpace("s3").ops == ("none", "skip_connect", "sep_conv_3x3")
    assert DartsSpace("s4").ops == ("noise", "sep_conv_3x3")
    for name, k in (("s1", 2), ("s2", 2), ("s3", 3), ("s4", 2), ("darts7", 7), ("darts8", 8)):
        space = DartsSpace(name)
        assert space.weight_shapes() == {"normal": (14, k), "reduce": (14, k)}
        assert space.supernet(10, C=4, layers=3).weight_shapes() == space.weight_shapes()
    with pytest.raises(ValueError, match="s1, s2, s3, s4"):
        DartsSpace("s5")


def test_supernet_edges_hold_the_edge_ops() -> None:
    net = DartsSpace("s1").supernet(10, C=4, layers=3)
    normal, reduce = net.cells[0], net.cells[1]
    pool, skip = normal.edges[5].ops  # max_pool_3x3 (+ BN), skip_connect
    assert isinstance(pool[0], torch.nn.MaxPool2d) and isinstance(pool[1], torch.nn.BatchNorm2d)
    assert type(skip).__name__ == "Identity"
    dil = reduce.edges[1].ops[1]  # reduce edge 1 (input 1 -> node 2) offers max_pool_3x3, dil_conv_3x3
    assert type(dil).__name__ == "DilConv" and dil[1].stride == (2, 2)
    assert type(reduce.edges[4].ops[0]).__name__ == "Identity"  # skip_connect from node 2: stride 1
    assert [type(op).__name__ for op in DartsSpace("s4").supernet(10, C=4, layers=3).cells[0].edges[0].ops] == [
        "NoiseOp",
        "SepConv",
    ]


# ---- derivation, one-hot, text --------------------------------------------------------------------------------------
def test_s3_derivation_ranks_edges_without_none() -> None:
    space = DartsSpace("s3")  # none, skip_connect, sep_conv_3x3
    w = torch.full((14, 3), 0.1)
    w[0] = torch.tensor([0.9, 0.05, 0.05])  # node 2: input 0 dominated by `none`
    w[1] = torch.tensor([0.2, 0.3, 0.5])
    w[2:5] = torch.tensor([0.1, 0.2, 0.7])  # node 3: all equal -> lower inputs first
    w[3] = torch.tensor([0.0, 0.8, 0.2])
    g = space.derive({"normal": w, "reduce": w})
    assert g.normal[:4] == (("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 1), ("sep_conv_3x3", 0))


def test_s1_derivation_names_the_edge_ops() -> None:
    space = DartsSpace("s1")
    w = torch.tensor([[0.4, 0.6]] * 14)  # op 1 everywhere: a different op per edge
    w[1] = torch.tensor([0.7, 0.3])  # node 2, input 1: op 0 is the strongest of the node
    g = space.derive({"normal": w, "reduce": w})
    assert g.normal[:2] == (("skip_connect", 1), ("dil_conv_3x3", 0))  # edges ranked by max over both ops
    assert g.normal[2:4] == (("dil_conv_5x5", 0), ("sep_conv_3x3", 1))  # edges 2, 3: ties keep lower inputs
    assert g.reduce[:2] == (("max_pool_3x3", 1), ("avg_pool_3x3", 0))
    assert chosen_ops_are_offered(space, g)


@pytest.mark.parametrize("name", ROBUST)
def test_derive_one_hot_and_text_round_trip(name: str) -> None:
    space, rng = DartsSpace(name), np.random.default_rng(0)
    for _ in range(5):
        g = space.sample(rng)
        oh = space.one_hot(g)
        assert all(oh[c].shape == space.weight_shapes()[c] for c in CELLS)
        assert all(float(oh[c].sum()) == 8 + (6 if name == "s3" else 0) for c in CELLS)  # s3: `none` elsewhere
        assert space.derive(oh) == space.canonical(g)
        assert space.parse(space.format(g)) == g
        assert space.validate(dg.to_json(g)) == g
        w = {c: torch.rand(*s, generator=torch.Generator().manual_seed(1)) for c, s in space.weight_shapes().items()}
        assert chosen_ops_are_offered(space, space.derive(w))


def test_ops_outside_the_edge_set_are_refused() -> None:
    g = DartsSpace("darts8").sample(np.random.default_rng(3))
    with pytest.raises(ArchFormatError, match=r"edge \d+ \(input \d -> node \d\): op '\w+' is not in op set 's2'"):
        DartsSpace("s2").validate(g)
    s4 = DartsSpace("s4").sample(np.random.default_rng(0))
    assert any(op == "noise" for c in CELLS for op, _ in s4.cell(c))
    with pytest.raises(ArchFormatError, match="op 'noise' is not in op set 'darts8'"):
        DartsSpace("darts8").validate(s4)
    with pytest.raises(ArchFormatError, match="op 'noise' is not in op set 'darts8'"):
        DartsSpace("darts8").supernet(10, C=4, layers=3)(torch.randn(1, 3, 8, 8), s4)
    with pytest.raises(ArchFormatError, match="only"):
        DartsSpace("s2").encode(DartsSpace("s2").sample(np.random.default_rng(0)))  # GeNAS ints: darts8 only
    # an op offered on another edge but not this one (S1 normal edge 0 offers skip_connect / dil_conv_3x3)
    s1 = DartsSpace("s1").sample(np.random.default_rng(0))
    bad = Genotype((("sep_conv_3x3", s1.normal[0][1]), *s1.normal[1:]), s1.normal_concat, s1.reduce, s1.reduce_concat)
    with pytest.raises(ArchFormatError, match=r"normal cell, edge [01] \(input [01] -> node 2\): op 'sep_conv_3x3'"):
        DartsSpace("s1").validate(bad)  # node 2's edges offer skip_connect with dil_conv_3x3 / dil_conv_5x5


# ---- sampling and moves stay in the op set -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ROBUST)
def test_sample_mutate_neighbors_stay_in_the_op_set(name: str) -> None:
    space, rng = DartsSpace(name), np.random.default_rng(1)
    seen = set()
    for _ in range(200):
        g = space.sample(rng)
        assert chosen_ops_are_offered(space, g)
        m = space.mutate(g, rng)
        assert chosen_ops_are_offered(space, m) and space.canonical(m) != space.canonical(g)
        seen.update((c, dg.edge_index(2 + s // 2, j), op) for c in CELLS for s, (op, j) in enumerate(g.cell(c)))
    offered = {(c, e, op) for c in CELLS for e in range(14) for op in space.ops_of(c, e) if op != "none"}
    assert seen == offered  # every (edge, op) the set offers is sampled
    g = space.sample(rng)
    nbrs = space.neighbors(g)
    keys = {space.canonical(n) for n in nbrs}
    assert len(keys) == len(nbrs) and all(chosen_ops_are_offered(space, n) for n in nbrs)
    if name != "s1":  # per cell: 8 slots x 1 other op + (0+1+2+3) x 2 input moves
        assert len(nbrs) == 2 * (8 + 12)
    for n in nbrs[:10]:  # moves can be undone
        assert space.canonical(g) in {space.canonical(b) for b in space.neighbors(n)}


def test_darts_sets_keep_their_sampling_streams() -> None:
    # darts7 sampling is the per-node rule with the 7 ops everywhere: same draws as before the op sets moved
    a = DartsSpace("darts7").sample(np.random.default_rng(11))
    assert a == dg.sample_per_node(np.random.default_rng(11))
    assert len(DartsSpace("darts8").neighbors(a)) == 120


# ---- networks and parameter counts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ("s1", "s2", "s3"))
def test_single_path_equals_one_hot_mixture(name: str) -> None:
    space = DartsSpace(name)
    torch.manual_seed(0)
    net = space.supernet(10, C=4, layers=3).double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        for seed in range(2):
            g = space.sample(np.random.default_rng(seed))
            oh = {c: w.double() for c, w in space.one_hot(g).items()}
            torch.testing.assert_close(net(x, g), net(x, oh), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ROBUST)
def test_derived_network_parameter_counts(name: str) -> None:
    space = DartsSpace(name)
    w = {c: torch.rand(*s, generator=torch.Generator().manual_seed(2)) for c, s in space.weight_shapes().items()}
    g = space.derive(w)
    net = build_network(g, 10, "cifar", layers=5, C=8)

    # noise and the pools have no parameters: swapping them for max_pool keeps the count; sep_conv_3x3 adds some
    def swap(old: tuple[str, ...], new: str) -> Genotype:
        def sub(pairs: dg.Cell) -> list[tuple[str, int]]:
            return [(new if op in old else op, j) for op, j in pairs]

        return Genotype(sub(g.normal), g.normal_concat, sub(g.reduce), g.reduce_concat)

    def params(genotype: Genotype) -> int:
        return count_parameters(build_network(genotype, 10, "cifar", layers=5, C=8))

    assert count_parameters(net) == params(swap(("noise", "avg_pool_3x3"), "max_pool_3x3"))
    assert params(swap(("sep_conv_3x3",), "max_pool_3x3")) < count_parameters(net)
    assert space.param_free_ops(g) == sum(
        op in ("noise", "max_pool_3x3", "avg_pool_3x3", "skip_connect") for c in CELLS for op, _ in g.cell(c)
    )
    with torch.no_grad():
        assert net.eval()(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_describe_counts_a_noise_network() -> None:
    space = DartsSpace("s4")
    g = space.sample(np.random.default_rng(0))
    d = space.describe(g)
    assert d["cifar"]["params_M"] == round(count_parameters(build_network(g, 10, "cifar")) / 1e6, 6)
    assert d["param_free_ops"] == sum(op == "noise" for c in CELLS for op, _ in g.cell(c))


# ---- the noise op ----------------------------------------------------------------------------------------------------
def test_noise_op_semantics() -> None:
    op = NoiseOp(1)
    x = torch.randn(4, 16, 32, 32, dtype=torch.float64, requires_grad=True)
    y = op(x)
    assert y.shape == x.shape and y.dtype == torch.float64 and not y.requires_grad  # no gradient to the input
    assert abs(float(y.mean())) < 0.02 and abs(float(y.std()) - 1.0) < 0.02  # N(0, 1), 65536 draws
    assert NoiseOp(2)(torch.zeros(2, 3, 7, 7)).shape == (2, 3, 4, 4)  # subsampled like x[:, :, ::2, ::2]
    assert abs(float(NoiseOp(1, mean=3.0, std=0.5)(x).mean()) - 3.0) < 0.01
    # it ignores the input's values and draws from the default generator, in training and evaluation alike
    torch.manual_seed(7)
    a = op.train()(x)
    torch.manual_seed(7)
    b = op.eval()(torch.zeros_like(x))
    assert torch.equal(a, b) and not torch.equal(op(x), op(x))


def test_noise_genotype_builds_an_evaluation_network() -> None:
    space = DartsSpace("s4")
    g = space.parse(
        "Genotype(normal=[('noise', 0), ('sep_conv_3x3', 1), ('noise', 1), ('sep_conv_3x3', 2), "
        "('sep_conv_3x3', 0), ('noise', 3), ('noise', 2), ('sep_conv_3x3', 4)], normal_concat=[2, 3, 4, 5], "
        "reduce=[('noise', 0), ('noise', 1), ('sep_conv_3x3', 0), ('noise', 2), ('noise', 1), ('noise', 3), "
        "('sep_conv_3x3', 4), ('noise', 0)], reduce_concat=[2, 3, 4, 5])"
    )
    assert space.format(g) == str(g) and space.parse(str(g)) == g
    net = space.network(g, 10, layers=3, C=8).eval()
    assert sum(type(m).__name__ == "NoiseOp" for m in net.modules()) == 4 + 2 * 6  # 1 normal + 2 reduction cells
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert not torch.equal(net(x), net(x))  # noise is drawn in evaluation too (RobustDARTS)


# ---- op-set files ----------------------------------------------------------------------------------------------------
def write(tmp_path: Path, obj: object, name: str = "ops.json") -> Path:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_user_op_set_file_replaces_s1(tmp_path: Path) -> None:
    lists = [["skip_connect", "noise", "sep_conv_5x5"]] * 14
    path = write(tmp_path, {"normal": lists, "reduce": lists, "source": "my experiment"})
    space = DartsSpace("s1", op_set_file=str(path))
    assert space.weight_shapes()["normal"] == (14, 3) and space.ops == ("skip_connect", "noise", "sep_conv_5x5")
    assert str(path) in space.edge_ops.source
    with pytest.raises(ValueError, match="op_set=s1 only"):
        DartsSpace("s2", op_set_file=str(path))


BAD_FILES = [
    ("{not json", "is not valid JSON"),
    ([], "top level must be an object"),
    ({"normal": [["skip_connect"]] * 14}, "missing key(s) 'reduce'"),
    ({"normal": [["skip_connect"]] * 13, "reduce": [["skip_connect"]] * 14}, "14 per-edge op lists, got 13"),
    ({"normal": [["skip_connect", "conv_9x9"]] * 14, "reduce": [["skip_connect"]] * 14}, "unknown op(s) 'conv_9x9'"),
    ({"normal": [["skip_connect"]] * 14, "reduce": [["none"]] * 14}, "offers only 'none'"),
    ({"normal": [["skip_connect"]] * 14, "reduce": [["skip_connect", "skip_connect"]] * 14}, "listed twice"),
    ({"normal": [["skip_connect"]] * 14, "reduce": [["skip_connect", "noise"]] * 14}, "same number of ops"),
]


@pytest.mark.parametrize(("content", "needle"), BAD_FILES)
def test_bad_op_set_file_names_the_file(tmp_path: Path, content: object, needle: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValueError) as err:
        DartsSpace("s1", op_set_file=str(path))
    assert str(path) in str(err.value) and needle in str(err.value), str(err.value)


def test_missing_op_set_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "s1.json"
    with pytest.raises(ValueError, match=f"op set file {missing} does not exist"):
        get_op_set("s1", missing)
