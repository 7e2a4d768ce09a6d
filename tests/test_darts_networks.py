"""DARTS evaluation networks: published parameter counts, MACs, forward contract, drop-path, describe()."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasflat.flops import count_macs
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.darts.network import EvalCell, NetworkCIFAR, NetworkImageNet, build_network, drop_path
from nasflat.spaces.ops import count_parameters

# Exact counts of our networks (no auxiliary head), pinned against regressions. DARTS_V2's 3,349,342 is the number
# quark0's train.py prints ("param size = 3.349342MB").
CIFAR_PARAMS = {
    "DARTS_V1": 3_169_414,
    "DARTS_V2": 3_349_342,
    "PC_DARTS_cifar": 3_634_678,
    "PDARTS": 3_433_798,
    "GDAS_V1": 3_368_782,
}
IMAGENET_PARAMS = {"PC_DARTS_image": 5_342_464, "DARTS_V2": 4_718_752}
IMAGENET_ONLY = {"PC_DARTS_image"}  # its reported 5.3M is an ImageNet (mobile) count
# The DARTS paper lists 3.3M for the first-order cell too, but that cell has one parametric op fewer than the
# second-order one; quark0's own network gives 3.17M for it. The paper's number is not reproducible from the genotype.
KNOWN_DISCREPANCIES = {"DARTS_V1": 0.15}


def published(path: Path) -> dict[str, dict]:
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def test_published_parameter_counts(darts_genotypes: Path) -> None:
    rows = []
    for name, entry in published(darts_genotypes).items():
        reported = entry.get("params_M_reported")
        if reported is None:
            continue
        g = dg.from_json(entry)
        if name in IMAGENET_ONLY:
            ours = count_parameters(build_network(g, 1000, kind="imagenet", auxiliary=True))
            assert ours == IMAGENET_PARAMS[name]
            kind = "imagenet-mobile"
        else:
            ours = count_parameters(build_network(g, 10, kind="cifar", auxiliary=True))  # aux head excluded
            assert ours == CIFAR_PARAMS[name]
            kind = "cifar10"
        rows.append((name, kind, reported, ours / 1e6))
        assert abs(ours / 1e6 - reported) <= KNOWN_DISCREPANCIES.get(name, 0.05), (name, reported, ours)
    print("\nname              network          reported(M)  ours(M)")
    for name, kind, reported, ours in rows:
        print(f"{name:<17} {kind:<16} {reported:>11.2f}  {ours:.4f}")
    assert len(rows) == 6


def test_darts_v2_imagenet_mobile(darts_genotypes: Path) -> None:
    g = dg.from_json(published(darts_genotypes)["DARTS_V2"])
    net = build_network(g, 1000, kind="imagenet")
    params, macs = count_parameters(net), count_macs(net, (3, 224, 224))
    print(f"\nDARTS_V2 ImageNet-mobile: {params / 1e6:.3f}M params, {macs / 1e6:.1f}M MACs (published 4.7M, 574M)")
    assert params == IMAGENET_PARAMS["DARTS_V2"] and abs(params / 1e6 - 4.7) < 0.05
    # conv+linear MACs; the paper's 574M counts something more (see the report); the mobile setting is < 600M
    assert macs == 529_911_552 and macs < 600e6


def test_cifar_forward_contract_and_aux_head() -> None:
    g = DartsSpace().sample(np.random.default_rng(0))
    torch.manual_seed(0)
    net = NetworkCIFAR(g, num_classes=10, C=4, layers=5, auxiliary=True)
    assert [c.reduction for c in net.cells] == [False, True, False, True, False]
    assert net.aux_index == 3 and net.drop_path_prob == 0.0
    x = torch.randn(2, 3, 32, 32)
    net.train()
    logits, aux = net(x)
    assert logits.shape == aux.shape == (2, 10)
    net.eval()
    with torch.no_grad():
        assert net(x).shape == (2, 10)
    no_aux = NetworkCIFAR(g, num_classes=10, C=4, layers=5, auxiliary=False).train()
    assert isinstance(no_aux(x), torch.Tensor)
    # the head's parameters carry "auxiliary" in their names, so the DARTS count skips them
    assert count_parameters(net) == count_parameters(no_aux) < sum(p.numel() for p in net.parameters())


def test_imagenet_forward_contract() -> None:
    g = DartsSpace("darts7").sample(np.random.default_rng(1))
    net = NetworkImageNet(g, num_classes=7, C=8, layers=3, auxiliary=True)
    assert [c.reduction for c in net.cells] == [False, True, True]
    assert net.cells[0].preprocess0.__class__.__name__ == "FactorizedReduce"  # stem1 halved stem0's output
    assert (net.stem0[0].stride, net.stem0[3].stride, net.stem1[1].stride) == ((2, 2), (2, 2), (2, 2))
    x = torch.randn(2, 3, 224, 224)
    logits, aux = net.train()(x)
    assert logits.shape == aux.shape == (2, 7)
    with torch.no_grad():
        assert net.eval()(x).shape == (2, 7)


def test_drop_path_only_in_training_and_never_on_identity() -> None:
    torch.manual_seed(0)
    x = torch.ones(4000, 1, 1, 1)
    y = drop_path(x, 0.25)
    assert 0.2 < (y == 0).float().mean() < 0.3 and abs(y.mean().item() - 1.0) < 0.05
    s0, s1 = torch.randn(3, 8, 8, 8), torch.randn(3, 8, 8, 8)
    skips = dg.Genotype([("skip_connect", 0), ("skip_connect", 1)] * 4, [2, 3, 4, 5],
                        [("skip_connect", 0), ("skip_connect", 1)] * 4, [2, 3, 4, 5])  # fmt: skip
    cell = EvalCell(skips, 8, 8, 4, reduction=False, reduction_prev=False).train()
    torch.testing.assert_close(cell(s0, s1, 0.9), cell(s0, s1, 0.0))  # identities are never dropped
    convs = dg.Genotype([("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4, [2, 3, 4, 5],
                        [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4, [2, 3, 4, 5])  # fmt: skip
    cell = EvalCell(convs, 8, 8, 4, reduction=False, reduction_prev=False)
    with torch.no_grad():
        assert not torch.allclose(cell.train()(s0, s1, 0.9), cell.train()(s0, s1, 0.0))
        cell.eval()
        torch.testing.assert_close(cell(s0, s1, 0.9), cell(s0, s1, 0.0))


def test_network_builds_from_any_genotype_and_concat() -> None:
    space = DartsSpace()
    rng = np.random.default_rng(2)
    for _ in range(2):
        g = space.sample(rng)
        net = space.network(space.format(g), 10, C=4, layers=4)  # text is accepted too
        with torch.no_grad():
            assert net.eval()(torch.randn(1, 3, 16, 16)).shape == (1, 10)
    partial = dg.Genotype(g.normal, [3, 5], g.reduce, [2, 3, 4, 5])
    net = build_network(partial, 10, C=4, layers=3)
    assert net.cells[0].multiplier == 2 and net.classifier.in_features == 4 * 4 * 4
    with pytest.raises(ValueError, match="unknown network kind"):
        build_network(g, 10, kind="mnist")


def test_describe(darts_genotypes: Path) -> None:
    g = dg.from_json(published(darts_genotypes)["DARTS_V2"])
    d = DartsSpace().describe(g)
    json.dumps(d)
    assert d["genotype"] == repr(g)
    assert d["cells"]["normal"][3] == {"node": 5, "inputs": [0, 2], "ops": ["skip_connect", "dil_conv_3x3"]}
    assert d["param_free_ops"] == 10
    assert d["cifar"]["params_M"] == pytest.approx(3.349342) and d["cifar"]["layers"] == 20 and d["cifar"]["C"] == 36
    assert d["imagenet"]["params_M"] == pytest.approx(4.718752) and d["imagenet"]["macs_M"] == pytest.approx(529.912)
    assert 0 < d["cifar"]["macs_M"] < 1000
