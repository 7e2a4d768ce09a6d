"""NB201 space: arch strings, neighborhoods, the benchmark's isomorphism classes and parameter counts, networks."""

from __future__ import annotations

import csv
import itertools
import json
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nasflat.spaces.base import ArchFormatError
from nasflat.spaces.nb201 import (
    DATASET_CLASSES,
    EDGES,
    OPS,
    NB201Arch,
    NB201Space,
    conv_depth,
    param_count,
)

SPACE = NB201Space()
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
PARAM_COLUMNS = {"cifar10": "params_cifar10", "cifar100": "params_cifar100", "imagenet16_120": "params_imagenet16"}


@pytest.fixture(scope="module")
def table_rows(nb201_csv: Path) -> list[dict[str, str]]:
    with nb201_csv.open(newline="") as f:
        return list(csv.DictReader(f))


def assert_same_logits(got: torch.Tensor, ref: torch.Tensor, msg: object) -> None:
    """Equal up to summation-order rounding: the one-hot mixture adds zero-weighted paths, so float32
    differs from the single path by a few ulps of the logits' magnitude (logits here reach ~500)."""
    eps = torch.finfo(ref.dtype).eps
    torch.testing.assert_close(got, ref, rtol=0, atol=64 * eps * ref.abs().max().item(), msg=str(msg))


def hamming(a: NB201Arch, b: NB201Arch) -> int:
    return sum(x != y for x, y in zip(a, b))


# ---- the arch value and its string ----------------------------------------------------------------------------
def test_all_table_arch_strings_round_trip(table_rows: list[dict[str, str]]) -> None:
    assert len(table_rows) == 5**6
    archs = {NB201Arch.from_str(r["arch_str"]) for r in table_rows}
    assert len(archs) == 5**6
    for r in table_rows:
        a = NB201Arch.from_str(r["arch_str"])
        assert str(a) == a.to_str() == r["arch_str"]
        assert "".join(map(str, a)) == r["op_codes"]
        assert ",".join(a.op_names) == r["ops"]


def test_arch_value_semantics() -> None:
    a = NB201Arch.from_str(BEST_C10)
    assert a == (3, 3, 3, 1, 3, 2) and hash(a) == hash((3, 3, 3, 1, 3, 2))
    assert {a: 1}[NB201Arch([3, 3, 3, 1, 3, 2])] == 1
    assert pickle.loads(pickle.dumps(a)) == a and type(pickle.loads(pickle.dumps(a))) is NB201Arch
    assert eval(repr(a), {"NB201Arch": NB201Arch.from_str}) == a
    with pytest.raises(AttributeError):
        a.x = 1  # type: ignore[attr-defined]
    for arch in SPACE.all_archs()[::97]:
        assert NB201Arch.from_str(str(arch)) == arch


def test_arch_survives_weights_only_checkpoint(tmp_path: Path) -> None:
    a = NB201Arch.from_str(BEST_C10)
    torch.save({"arch": str(a)}, tmp_path / "ck.pt")
    assert NB201Arch.from_str(torch.load(tmp_path / "ck.pt", weights_only=True)["arch"]) == a


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BEST_C10.replace("nor_conv_1x1~2", "conv_5x5~2"), ["'conv_5x5'", "node 3", "none, skip_connect"]),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", ["3 node groups", "got 2"]),
        (BEST_C10 + "+|none~0|", ["3 node groups", "got 4"]),
        (BEST_C10.replace("nor_conv_3x3~1|+|skip", "nor_conv_3x3~2|+|skip"), ["'nor_conv_3x3~2'", "node 2", "'~1'"]),
        (BEST_C10.replace("|nor_conv_3x3~0|+", "|nor_conv_3x3~x|+", 1), ["node 1", "'~0'", "'~x'"]),
        (BEST_C10[1:], ["node 1", "enclosed in '|'"]),
        (BEST_C10.replace("|+|skip", "+|skip"), ["node 2", "enclosed in '|'"]),
        (BEST_C10.replace("|nor_conv_1x1~2|", "|"), ["node 3 needs 3 inputs", "got 2"]),
        (BEST_C10.replace("skip_connect~0", "skip_connect0"), ["'skip_connect0'", "op~source", "valid ops"]),
    ],
)
def test_arch_string_errors_name_the_bad_token(text: str, expected: list[str]) -> None:
    with pytest.raises(ArchFormatError) as err:
        NB201Arch.from_str(text)
    for piece in expected:
        assert piece in str(err.value), (piece, str(err.value))


@pytest.mark.parametrize("bad", [(0, 1, 2), (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, -1), ("a",) * 6, None, 3.5])
def test_validate_rejects_bad_values(bad: object) -> None:
    with pytest.raises(ArchFormatError):
        SPACE.validate(bad)


def test_arch_rejects_non_integer_ops() -> None:
    with pytest.raises(ArchFormatError, match="op indices"):
        NB201Arch([3.7] * 6)


def test_validate_accepts_string_sequence_array() -> None:
    a = NB201Arch.from_str(BEST_C10)
    for form in (a, BEST_C10, list(a), tuple(a), np.array(a), torch.tensor(a)):
        assert SPACE.validate(form) == a and isinstance(SPACE.validate(form), NB201Arch)
    assert SPACE.parse(SPACE.format(list(a))) == a
    assert SPACE.encode(BEST_C10) == [3, 3, 3, 1, 3, 2]


# ---- sampling and neighborhoods ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("radius", "count"), [(0, 1), (1, 24), (2, 240), (3, 1280), (6, 4096)])
def test_neighbors_exact_radius(radius: int, count: int) -> None:
    a = NB201Arch.from_str(BEST_C10)
    nbrs = SPACE.neighbors(a, radius)
    assert len(nbrs) == len(set(nbrs)) == count
    assert all(hamming(a, b) == radius for b in nbrs)
    assert nbrs == SPACE.neighbors(BEST_C10, radius)  # deterministic, input form irrelevant


def test_neighborhood_and_bad_radius() -> None:
    a = NB201Arch((0,) * 6)
    assert len(SPACE.neighborhood(a, 2)) == 24 + 240
    with pytest.raises(ValueError, match="radius"):
        SPACE.neighbors(a, 7)


def test_mutate_is_a_uniform_one_hop() -> None:
    rng = np.random.default_rng(0)
    a = NB201Arch.from_str(BEST_C10)
    children = [SPACE.mutate(a, rng) for _ in range(24 * 400)]
    assert all(hamming(a, c) == 1 for c in children)
    counts = Counter(children)
    assert set(counts) == set(SPACE.neighbors(a, 1))
    assert min(counts.values()) > 400 - 5 * 20 and max(counts.values()) < 400 + 5 * 20  # ~5 sigma
    # AutoDL R-EA picks a node first: node 1's only edge changes a third of the time
    by_node = Counter(
        next(e for e in range(6) if c[e] != a[e]) for c in (SPACE.mutate(a, rng, scheme="by_node") for _ in range(3000))
    )
    assert abs(by_node[0] / 3000 - 1 / 3) < 0.04 and abs(by_node[5] / 3000 - 1 / 9) < 0.03


def test_sample_is_uniform_per_edge() -> None:
    rng = np.random.default_rng(1)
    samples = np.array([SPACE.sample(rng) for _ in range(20000)])  # (S, 6)
    assert samples.min() == 0 and samples.max() == len(OPS) - 1
    expected = len(samples) / len(OPS)
    for e in range(len(EDGES)):
        counts = np.bincount(samples[:, e], minlength=len(OPS))
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert chi2 < 18.5, (e, counts)  # chi-square, 4 dof, p ~ 0.001
    assert len({tuple(s) for s in samples}) > 11000  # ~ 15625 * (1 - exp(-20000 / 15625))
    assert SPACE.sample(np.random.default_rng(5)) == SPACE.sample(np.random.default_rng(5))


# ---- isomorphism classes -------------------------------------------------------------------------------------------
def test_canonical_reproduces_the_benchmark_unique_str(table_rows: list[dict[str, str]]) -> None:
    ours: dict[str, set[str]] = {}
    theirs: dict[str, set[str]] = {}
    for r in table_rows:
        key = SPACE.canonical(r["arch_str"])
        assert key == r["unique_str"]
        ours.setdefault(key, set()).add(r["arch_str"])
        theirs.setdefault(r["unique_str"], set()).add(r["arch_str"])
    assert len(ours) == len(theirs) == 6466
    assert sorted(map(sorted, ours.values())) == sorted(map(sorted, theirs.values()))


def test_canonical_small_cases() -> None:
    assert len({SPACE.canonical(a) for a in SPACE.all_archs()}) == 6466
    # the output only sees node 0 through skips: edges feeding dead nodes do not matter
    a = SPACE.canonical((0, 0, 0, 1, 0, 0))
    assert a == SPACE.canonical((3, 2, 4, 1, 0, 0)) == "#+#+0"
    # convs swapped between 3<-0 and 3<-1 (node 1 = skip of node 0): the same function, one class
    assert SPACE.canonical((1, 0, 0, 3, 2, 0)) == SPACE.canonical((1, 0, 0, 2, 3, 0))
    assert SPACE.canonical((1, 0, 0, 3, 2, 0)) != SPACE.canonical((1, 0, 0, 3, 3, 0))
    # the benchmark's rule keeps "#+" terms, so these functionally identical cells stay apart (pinned quirk)
    assert SPACE.canonical((3, 2, 0, 0, 1, 1)) != SPACE.canonical((2, 3, 0, 0, 1, 1))


def test_conv_depth_and_describe() -> None:
    assert conv_depth(NB201Arch.from_str(BEST_C10)) == 3  # 1<-0, 2<-1, 3<-2: conv3, conv3, conv1
    assert conv_depth((0, 0, 0, 0, 0, 0)) is None
    assert conv_depth((1, 0, 0, 0, 1, 0)) == 0
    d = SPACE.describe(BEST_C10)
    assert json.loads(json.dumps(d)) == d
    assert d["edges"]["3<-0"] == "skip_connect" and d["param_free_ops"] == 1 and d["parametric_ops"] == 5
    assert d["op_counts"]["nor_conv_3x3"] == 4 and d["params"]["cifar10"] == 1073466


# ---- relaxation ---------------------------------------------------------------------------------------------------
def test_one_hot_derive_round_trip() -> None:
    assert SPACE.weight_shapes() == {"cell": (6, 5)}
    for a in SPACE.all_archs()[::131]:
        w = SPACE.one_hot(a)
        assert w["cell"].shape == (6, 5) and w["cell"].dtype == torch.float32 and w["cell"].sum() == 6
        assert SPACE.derive(w) == a
    assert SPACE.param_free_ops((0, 1, 2, 3, 4, 4)) == 4


def test_derive_exclude_none() -> None:
    w = torch.tensor([[5.0, 1, 2, 3, 4]] * 6)
    assert SPACE.derive({"cell": w}) == (0,) * 6
    assert SPACE.derive({"cell": w}, exclude_none=True) == (4,) * 6


# ---- parameter counts ------------------------------------------------------------------------------------------------
def test_param_counts_match_the_table_for_every_arch(table_rows: list[dict[str, str]]) -> None:
    for r in table_rows:
        a = NB201Arch.from_str(r["arch_str"])
        for dataset, column in PARAM_COLUMNS.items():
            assert param_count(a, DATASET_CLASSES[dataset]) == int(r[column]), (r["arch_str"], dataset)


def built_params(arch: NB201Arch, num_classes: int) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in SPACE.network(arch, num_classes).parameters())


def test_param_count_composition_matches_built_networks() -> None:
    rng = np.random.default_rng(2)
    datasets = list(DATASET_CLASSES.values())
    for i in range(300):
        a = SPACE.sample(rng)
        assert param_count(a, datasets[i % 3]) == built_params(a, datasets[i % 3])
    a = SPACE.sample(rng)
    assert param_count(a, 10, C=8, N=2) == sum(p.numel() for p in SPACE.network(a, 10, C=8, N=2).parameters())


@pytest.mark.slow
def test_every_built_network_matches_the_table(table_rows: list[dict[str, str]]) -> None:
    """Builds all 15,625 networks (meta device, ~2 min); the three datasets differ only in the classifier."""
    for r in table_rows:
        with torch.device("meta"):
            net = SPACE.network(r["arch_str"], 10)
            for dataset, column in PARAM_COLUMNS.items():
                net.classifier = nn.Linear(net.classifier.in_features, DATASET_CLASSES[dataset])
                assert sum(p.numel() for p in net.parameters()) == int(r[column]), (r["arch_str"], dataset)


def test_cost_params_and_macs() -> None:
    c10 = SPACE.cost(BEST_C10, "cifar10")
    i16 = SPACE.cost(BEST_C10, "imagenet16_120")
    assert c10["params"] == param_count(NB201Arch.from_str(BEST_C10), 10)
    assert i16["params"] == param_count(NB201Arch.from_str(BEST_C10), 120)
    # convs dominate and see 4x fewer pixels on 16x16 inputs; the classifier differs by 64 * 110 MACs
    assert i16["macs"] - 64 * 110 == pytest.approx(c10["macs"] / 4, rel=1e-3)
    assert SPACE.cost((0,) * 6, "cifar10")["macs"] < c10["macs"]
    with pytest.raises(ValueError, match="imagenet16_120"):
        SPACE.cost(BEST_C10, "ImageNet16-120")


# ---- networks -------------------------------------------------------------------------------------------------------
def randomize_bn(model: nn.Module, gen: torch.Generator) -> None:
    """Non-trivial BN statistics/affine values so the equivalence checks are not vacuous."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            if m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


@pytest.fixture(scope="module")
def archs() -> list[NB201Arch]:
    rng = np.random.default_rng(3)
    return [NB201Arch.from_str(BEST_C10), NB201Arch((0,) * 6), NB201Arch((1,) * 6)] + [
        SPACE.sample(rng) for _ in range(5)
    ]


def test_network_forward_and_layout() -> None:
    net = SPACE.network(BEST_C10, 10)
    assert len(net.cells) == 17 and sum(p.numel() for p in net.parameters()) == 1073466
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))  # affine BN -> no conv bias
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_supernet_one_hot_mixture_equals_single_path(archs: list[NB201Arch], dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    net = SPACE.supernet(10, C=8, N=2).to(dtype)
    randomize_bn(net, gen)
    net.eval()
    x = torch.randn(3, 3, 16, 16, generator=gen, dtype=dtype)
    with torch.no_grad():
        for a in archs:
            mix = net(x, SPACE.one_hot(a, dtype=dtype))
            assert_same_logits(mix, net(x, a), a)
            assert_same_logits(mix, net(x, tuple(a)), a)


def test_supernet_restricted_equals_standalone(archs: list[NB201Arch]) -> None:
    gen = torch.Generator().manual_seed(1)
    sup = SPACE.supernet(10, C=8, N=2, affine=True)
    randomize_bn(sup, gen)
    sup.eval()
    x = torch.randn(3, 3, 32, 32, generator=gen)
    for a in archs:
        net = SPACE.network(a, 10, C=8, N=2)
        net.load_state_dict(sup.subnet_state_dict(a), strict=True)
        net.eval()
        with torch.no_grad():
            assert torch.allclose(net(x), sup(x, a), atol=1e-6), a
            assert_same_logits(sup(x, SPACE.one_hot(a)), net(x), a)


def test_default_supernet_matches_reference_layout() -> None:
    sup = SPACE.supernet(10)
    assert sum(isinstance(m, nn.BatchNorm2d) and not m.affine for m in sup.modules()) == 15 * 6 * 2
    conv_biases = [m for m in sup.modules() if isinstance(m, nn.Conv2d) and m.bias is not None]
    assert len(conv_biases) == 15 * 6 * 2  # NB201 search cells: conv bias = not affine
    x = torch.randn(2, 3, 32, 32).to(memory_format=torch.channels_last)
    a = NB201Arch.from_str(BEST_C10)
    assert sup(x, a).shape == (2, 10) and sup(x, SPACE.one_hot(a)).shape == (2, 10)


def test_supernet_mixture_gradients_in_float64() -> None:
    gen = torch.Generator().manual_seed(2)
    net = SPACE.supernet(5, C=4, N=1).double()
    alpha = torch.randn(6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64).to(memory_format=torch.channels_last)
    net.eval()
    torch.autograd.gradcheck(lambda a: net(x, {"cell": a.softmax(-1)}), (alpha,), eps=1e-6, atol=1e-5)
    net.train()
    net(x, {"cell": alpha.softmax(-1)}).square().sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\(6, 5\)"):
        net(x, {"cell": torch.zeros(5, 5, dtype=torch.float64)})


def test_single_path_runs_only_the_chosen_ops() -> None:
    net = SPACE.supernet(10, C=4, N=1)
    a = NB201Arch((0, 1, 2, 3, 4, 0))
    called: set[str] = set()
    for name, m in net.named_modules():
        if name.count(".") == 4 and name.startswith("cells."):  # cells.<c>.edges.<e>.<k>
            m.register_forward_hook(lambda mod, i, o, name=name: called.add(name))
    net(torch.randn(1, 3, 8, 8), a)
    chosen = {f"cells.{c}.edges.{e}.{k}" for c in (0, 2, 4) for e, k in enumerate(a) if k != 0}
    assert called == chosen
    called.clear()
    net(torch.randn(1, 3, 8, 8), SPACE.one_hot(a))
    assert len(called) == 3 * 6 * 4 and not any(n.endswith(".0") for n in called)  # `none` never computed


def test_supernet_weights_shared_across_cells_not_parameters() -> None:
    net = SPACE.supernet(10, C=4, N=2)
    names = [n for n, _ in net.named_parameters()]
    assert not any("alpha" in n for n in names)  # architecture weights live with the algorithm
    p0 = dict(net.named_parameters())["cells.0.edges.0.3.1.weight"]
    p1 = dict(net.named_parameters())["cells.1.edges.0.3.1.weight"]
    assert p0.data_ptr() != p1.data_ptr()
    assert list(itertools.islice((k for k in names if k.startswith("cells.2.")), 1)) == ["cells.2.conv_a.1.weight"]
