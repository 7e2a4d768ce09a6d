"""A search space and an evaluator from another package (examples/plugin, ``nasflat_toy``), installed the way a user
would, reach nasflat only through Hydra's search path: ``space=toy evaluator=synflow`` run end to end, the SynFlow
scores agree with an independent computation, and broken plugins are refused before any work with one line each.

The plugin is installed into a temporary directory that only the CLI subprocesses see; this process imports only
its network module (importing its space would register the toy arch format for every later test).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from helpers import nasflat, results_of
from nasflat.data.digits import SIZE as DIGITS_SIZE
from nasflat.hardware import rng_fork

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "examples" / "plugin"
EXTENDING = REPO / "docs" / "extending.md"
TOY_ARCH = "conv3x3|skip|none"  # edges 0->1, 0->2, 1->2
# the toy space without its networks: every method of ToySpace but network and describe
PARTIAL_SPACE = """
from nasflat.spaces.base import SearchSpace
from nasflat_toy.space import ToySpace

methods = {k: v for k, v in vars(ToySpace).items() if not k.startswith("_") and k not in ("network", "describe")}
NoNetworks = type("NoNetworks", (SearchSpace,), methods)
"""
# classes that each miss part of an extension point's contract
BROKEN = """
from nasflat.algorithms.budgeted import BudgetedSearch


class NoCheck:  # an α-gradient without check(): the harness would call it while building the parts
    name = "no_check"
    passes = 1

    def __call__(self, problem, alphas):
        return problem.grad(alphas)

    def describe(self):
        return {"name": self.name}


class NoPropose(BudgetedSearch):  # a sampling algorithm that forgot the one abstract method
    algo = "no_propose"


class NotAPhase:  # neither a BudgetedSearch nor a phase with best() and summary()
    name = "search"

    def run_step(self, step):
        return {}


class NoLoad:  # a dataset that is not a DataSpec
    name = "nowhere"
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``pip install --target`` of a copy of examples/plugin (offline); the environment that puts it on the path,
    plus a directory holding ``partial_space.py``. Its network module is importable here while the module runs."""
    root = tmp_path_factory.mktemp("plugin")
    source, site, extra = root / "source", root / "site", root / "extra"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    subprocess.run([*pip, "--target", str(site), str(source)], check=True, capture_output=True, timeout=120)
    extra.mkdir()
    (extra / "partial_space.py").write_text(PARTIAL_SPACE)
    (extra / "broken.py").write_text(BROKEN)
    sys.path.insert(0, str(site))
    yield {"PYTHONPATH": os.pathsep.join([str(site), str(extra), os.environ.get("PYTHONPATH", "")])}
    sys.path.remove(str(site))
    for name in [m for m in sys.modules if m.startswith("nasflat_toy")]:
        del sys.modules[name]


def synflow_by_zeroing(net: nn.Module, input_shape: tuple[int, ...]) -> float:
    """SynFlow without autograd. With BN removed, |θ| and an all-ones input every activation is >= 0, so the ReLUs
    pass everything and R = sum(net(1)) is affine in each layer's weight W: R(θ) = R(θ | W = 0) + <∂R/∂W, W>, every
    term >= 0. Hence sum |W ⊙ ∂R/∂W| over conv and linear layers = sum over them of R(θ) - R(θ | W = 0)."""
    net = copy.deepcopy(net).double().eval()
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, nn.Identity())
    ones = torch.ones(1, *input_shape, dtype=torch.float64)
    score = 0.0
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        total = float(net(ones).sum())
        for layer in [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]:
            weight = layer.weight.clone()
            layer.weight.zero_()
            score += total - float(net(ones).sum())
            layer.weight.copy_(weight)
    return score


def toy_network(arch: str, init_seed: int) -> nn.Module:
    """The network the synflow evaluator scores (10 digit classes, the space's default C=8, N=2)."""
    from nasflat_toy.networks import OPS, ToyNetwork

    ops = [OPS.index(op) for op in arch.split("|")]
    with rng_fork(init_seed):
        return ToyNetwork(ops, 10)


def test_search_with_plugin_space_and_evaluator(plugin: dict[str, str], tmp_path: Path) -> None:
    from nasflat_toy.networks import OPS

    args = ["space=toy", "evaluator=synflow", "algo=rs", "algo.budget=6", "algo.chunk=3", "evaluator.init_seed=7"]
    args += ["dataset=digits", "retrain=none", "logger=none", "hardware.threads=1", f"out_root={tmp_path}"]
    nasflat("search", *args, cwd=tmp_path, env=plugin, check=True)
    r = results_of(tmp_path)
    assert r["space"] == "toy" and r["algo"] == "rs" and r["search"]["candidates"] == 6
    assert r["search"]["evaluator"] == {"name": "synflow", "network": {}, "bn": False, "init_seed": 7}
    ops = r["arch"].split("|")
    assert len(ops) == 3 and set(ops) <= set(OPS)
    shape = (3, DIGITS_SIZE, DIGITS_SIZE)
    assert r["search"]["score"] == pytest.approx(synflow_by_zeroing(toy_network(r["arch"], 7), shape), rel=1e-9)
    # every architecture the search scored (its evaluator cache, from the checkpoint): the same agreement
    (ckpt,) = Path(r["run_dir"]).glob("checkpoints/search.pt")
    cache = dict(torch.load(ckpt, weights_only=False)["phase"]["evaluator"]["cache"])
    assert len(cache) == r["search"]["evaluations"] >= 2 and max(cache.values()) == r["search"]["score"]
    for arch, score in cache.items():
        assert score == pytest.approx(synflow_by_zeroing(toy_network(arch, 7), shape), rel=1e-9, abs=1e-9), arch
    assert len(set(cache.values())) > 1  # the proxy tells architectures apart


def synflow_with_bn(net: nn.Module, input_shape: tuple[int, ...], train: bool) -> float:
    """zero-cost's SynFlow with BatchNorm kept, written out: |θ| (buffers included), one all-ones double image,
    sum |W ⊙ ∂R/∂W| over conv and linear weights; ``train``: the whole copy in train mode (get_prunable_copy)."""
    net = copy.deepcopy(net).double().train(train)
    with torch.no_grad():
        for tensor in net.state_dict().values():
            tensor.abs_()
    out = net(torch.ones(1, *input_shape, dtype=torch.float64)).sum()
    layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    grads = torch.autograd.grad(out, [m.weight for m in layers], allow_unused=True)
    with torch.no_grad():
        return float(sum((m.weight * g).abs().sum() for m, g in zip(layers, grads, strict=True) if g is not None))


def test_synflow_bn_normalises_with_batch_statistics(plugin: dict[str, str]) -> None:
    """``bn=True`` is zero-cost's ``synflow_bn``: its pruning copy runs in train mode, so BatchNorm normalises with
    the all-ones image's own statistics, not the running ones; the scored network itself is left as it was."""
    from nasflat_toy.synflow import synflow_score

    net, shape = toy_network(TOY_ARCH, 3), (3, DIGITS_SIZE, DIGITS_SIZE)
    before = copy.deepcopy(net.state_dict())
    score = synflow_score(net, shape, bn=True)
    assert score == pytest.approx(synflow_with_bn(net, shape, train=True), rel=1e-12)
    assert abs(score / synflow_with_bn(net, shape, train=False) - 1) > 1e-2  # running statistics: another score
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN's running stats untouched


def test_info_on_plugin_space(plugin: dict[str, str]) -> None:
    info = json.loads(nasflat("info", "space=toy", f"arch={TOY_ARCH}", env=plugin, check=True).stdout)
    assert info["space"] == "toy" and info["arch"] == TOY_ARCH and info["encoding"] == [2, 1, 0]
    assert info["edges"] == {"0->1": "conv3x3", "0->2": "skip", "1->2": "none"}
    # node 1 feeds only a `none` edge, so the live cell is the skip 0->2: depth 1, no intermediate node
    assert info["topology"] == {"width": 0.0, "depth": 1} and info["param_free_ops"] == 2
    assert info["cost"]["params"] == sum(p.numel() for p in toy_network(TOY_ARCH, 0).parameters())


def test_broken_plugins_are_refused_by_key(plugin: dict[str, str]) -> None:
    common = ["space=toy", "evaluator=synflow", "algo=rs", "dataset=digits", "logger=none", "retrain=none"]
    bad = nasflat(
        "search",
        *common,
        "space._target_=nasflat_toy.space.ToySpce",
        "evaluator._target_=nasflat_nowhere.Synflow",
        env=plugin,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        "space._target_=nasflat_toy.space.ToySpce (set by space=toy): nasflat_toy.space has no attribute "
        "'ToySpce' (did you mean 'ToySpace'?)" in bad.stderr
    )
    assert (
        "evaluator._target_=nasflat_nowhere.Synflow (set by evaluator=synflow): no module named "
        "'nasflat_nowhere'; install the package that provides it" in bad.stderr
    )
    bad = nasflat(
        "search",
        *common,
        "space._target_=partial_space.NoNetworks",
        "evaluator._target_=nasflat_toy.space.ToySpace",
        env=plugin,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        "NoNetworks does not implement the SearchSpace contract: missing describe, network; subclass "
        "nasflat.spaces.base.SearchSpace and define them; see docs/extending.md#a-search-space in the nasflat source "
        "repository" in bad.stderr
    )
    assert re.search(r"ToySpace does not implement the Evaluator contract: missing [\w, ]*\bscore\b", bad.stderr)


def test_broken_differentiable_parts_and_datasets_are_refused(plugin: dict[str, str]) -> None:
    """An α-gradient without check(), an algo class that is no phase, a dataset that is no DataSpec: refused
    by key, target and group choice before anything is built (an α-gradient without check() used to crash the
    parts check with an AttributeError traceback)."""
    broken = ["algo.arch_grad._target_=broken.NoCheck", "algo._target_=broken.NotAPhase"]
    broken.append("dataset._target_=broken.NoLoad")
    bad = nasflat("search", "space=toy", "algo=darts", "algo/arch_grad=clipped", "dataset=blobs", *broken, env=plugin)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        "algo.arch_grad._target_=broken.NoCheck (set by algo/arch_grad=clipped): NoCheck does not implement the "
        "ArchGradient contract: missing check; define them (the nasflat.algorithms.differentiable.arch_grads."
        "ArchGradient protocol); see docs/extending.md#a-relaxation-or-an-α-gradient in the nasflat source "
        "repository" in bad.stderr
    )
    assert (
        "algo._target_=broken.NotAPhase (set by algo=darts): NotAPhase does not implement the SearchAlgorithm "
        "contract: missing best, load_state_dict, state_dict, summary; define them (the nasflat.plugins."
        "SearchAlgorithm protocol), or subclass nasflat.algorithms.budgeted.BudgetedSearch" in bad.stderr
    )
    assert (
        "dataset._target_=broken.NoLoad (set by dataset=blobs): NoLoad does not implement the DataSpec " in bad.stderr
    )
    assert re.search(
        r"DataSpec contract: missing [\w, ]*\bload\b[\w, ]*; subclass nasflat.context.DataSpec", bad.stderr
    )
    assert len(bad.stderr.strip().splitlines()) == 3  # one line each, nothing else

    bad = nasflat("search", "space=toy", "algo=local_search", "algo._target_=broken.NoPropose", env=plugin)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        "algo._target_=broken.NoPropose (set by algo=local_search): NoPropose does not implement the "
        "BudgetedSearch contract: missing propose; subclass nasflat.algorithms.budgeted.BudgetedSearch and define "
        "them; see docs/extending.md#a-sampling-algorithm in the nasflat source repository" in bad.stderr
    )


HALF_PARTS = """
from nasflat.algorithms.differentiable.arch_grads import ArchGradient


class Penalty:  # a modifier that is not a Modifier and has only its penalty
    name = "penalty"

    def alpha_penalty(self, ops, batch_index):
        return None


class Stub(ArchGradient):  # subclasses the Protocol, so check() is its `...` stub: still missing
    name = "stub"
    passes = 1

    def __call__(self, problem, alphas):
        return problem.grad(alphas)

    def describe(self):
        return {}
"""


def test_contracts_reach_list_entries_and_protocol_stubs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``algo.modifiers`` given as a list is checked per entry; a Protocol's own stubs do not count as defined; the
    required names are the base class's, so a Modifier subclass needs nothing more."""
    from omegaconf import OmegaConf

    from nasflat.algorithms.differentiable.modifiers import Modifier
    from nasflat.plugins import PluginError, check_composition, required_names

    (tmp_path / "half_parts.py").write_text(HALF_PARTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    algo = {"_target_": "nasflat.algorithms.differentiable.harness.DifferentiableSearch", "_partial_": True}
    modifiers = [
        {"_target_": "nasflat.algorithms.differentiable.modifiers.SdartsRS"},
        {"_target_": "half_parts.Penalty"},
    ]
    cfg = OmegaConf.create({"algo": {**algo, "modifiers": modifiers, "arch_grad": {"_target_": "half_parts.Stub"}}})
    with pytest.raises(PluginError) as e:
        check_composition(cfg, {"algo": "darts", "algo/modifiers": ["sdarts_rs", "penalty"]})
    lacking = ", ".join(sorted(required_names(Modifier) - {"alpha_penalty", "name"}))
    assert "check" in lacking and "weight_mixture" in lacking
    assert e.value.problems == [
        "algo.modifiers.1._target_=half_parts.Penalty (set by algo/modifiers=[sdarts_rs,penalty]): Penalty does not "
        f"implement the Modifier contract: missing {lacking}; subclass nasflat.algorithms.differentiable.modifiers."
        "Modifier and define them; see docs/extending.md#a-relaxation-or-an-α-gradient in the nasflat source "
        "repository",
        "algo.arch_grad._target_=half_parts.Stub (set by algo=darts): Stub does not implement the ArchGradient "
        "contract: missing check; define them (the nasflat.algorithms.differentiable.arch_grads.ArchGradient "
        "protocol); see docs/extending.md#a-relaxation-or-an-α-gradient in the nasflat source repository",
    ]


def test_every_built_in_option_meets_its_contract() -> None:
    """The contracts are derived from the base classes; nasflat's own options at each extension point pass them,
    and each contract's guide section exists."""
    from nasflat.plugins import CONTRACTS

    parts = [f"algo/{p}" for p in ("relaxation", "arch_grad", "objective", "selection", "modifiers")]
    checked = set().union(*(_check_group(g) for g in ("space", "evaluator", "algo", "dataset", *parts)))
    assert checked == {c.key for c in CONTRACTS}
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', EXTENDING.read_text()))
    assert {c.anchor for c in CONTRACTS} <= anchors


def _check_group(group: str) -> set[str]:
    """Every option of conf/<group> meets the contract of its key; returns the contract keys it exercised."""
    import yaml

    from nasflat.plugins import _targets, contract_for, target_problem

    keys = set()
    for file in sorted((REPO / "conf" / group).glob("*.yaml")):
        text = file.read_text()
        tree = yaml.safe_load(text) or {}
        if "@package _global_" not in text:
            for part in reversed(group.split("/")):
                tree = {part: tree}
        for path, target in _targets(tree):
            if (contract := contract_for(path)) is not None:
                keys.add(contract.key)
                assert target_problem(path, target, {}) is None, (file.name, path)
    return keys


def test_plugin_keys_get_the_config_checks(plugin: dict[str, str]) -> None:
    """A plugin's space options and evaluator keys are checked against its signatures, typos included."""
    args = ["space=toy", "evaluator=synflow", "algo=rs", "dataset=digits", "logger=none"]
    bad = nasflat("search", *args, "+search_net.CC=4", "+evaluator.bnn=true", "evaluator.init_seed=-1", env=plugin)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "config error: search_net.CC=4: ToySpace.supernet does not take `CC` (did you mean `C`?)" in bad.stderr
    assert "config error: evaluator.bnn=true: SynflowEvaluator does not take `bnn` (did you mean `bn`?)" in bad.stderr
    assert "config error: evaluator.init_seed=-1: out of range" in bad.stderr


def test_missing_per_space_defaults_are_named(plugin: dict[str, str]) -> None:
    bad = nasflat("search", "space=toy", "algo=gdas", "dataset=digits", "logger=none", env=plugin)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "algo.per_space.toy: missing (set by algo=gdas)" in bad.stderr
    assert "+algo.per_space.toy.others_gradient=VALUE" in bad.stderr
    assert "(see docs/extending.md#per-space-defaults in the nasflat source repository)" in bad.stderr


def _blobs(tmp_path: Path) -> list[str]:
    return ["space=toy", "logger=none", "hardware.threads=1", "dataset=blobs", f"dataset.root={tmp_path / 'data'}"]


def test_blobs_file_appears_whole_or_not_at_all(
    plugin: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that dies half way leaves no file under the name other runs read (nor a stray temporary file); the
    next load writes it whole."""
    import numpy as np
    from nasflat_toy.data import Blobs

    spec = Blobs(root=str(tmp_path), classes=2, images=8, size=8)

    def dies_half_way(file: Any, **arrays: Any) -> None:
        with open(file, "wb") if isinstance(file, str | Path) else contextlib.nullcontext(file) as out:
            out.write(b"PK\x03\x04 half an archive")
        raise OSError("no space left on device")

    monkeypatch.setattr(np, "savez", dies_half_way)
    with pytest.raises(OSError, match="no space left"):
        spec.load(0)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    data = spec.load(0)
    assert [p.name for p in tmp_path.iterdir()] == [spec.npz().name]
    assert data.sizes()["train"] == 16 and data.num_classes == 2


def test_plugin_algorithm_on_plugin_dataset(plugin: dict[str, str], tmp_path: Path) -> None:
    search = ["evaluator=synflow", "algo=local_search", "algo.budget=10", "algo.chunk=10", "retrain=none"]
    nasflat("search", *_blobs(tmp_path), *search, f"out_root={tmp_path}", env=plugin, check=True)
    r = results_of(tmp_path)
    assert r["algo"] == "local_search" and r["dataset"] == "blobs" and r["search"]["candidates"] == 10
    assert r["data"]["sizes"] == {"train": 256, "test": 64, "search_train": 128, "search_val": 128}  # 4 x 64, 4 x 16


def test_plugin_relaxation_and_arch_gradient(plugin: dict[str, str], tmp_path: Path) -> None:
    """DARTS with the plugin's relaxation and α-gradient: both in results.json, τ's schedule logged per epoch."""
    parts = ["algo=darts", "algo/relaxation=tempered", "algo/arch_grad=clipped", "algo.arch_grad.clip_norm=0.5"]
    nasflat("search", *_blobs(tmp_path), *parts, "scale=tiny", f"out_root={tmp_path}", env=plugin, check=True)
    r = results_of(tmp_path)
    assert r["search"]["relaxation"] == {"name": "tempered_softmax", "tau_max": 5.0, "tau_min": 0.5}
    assert r["search"]["arch_grad"] == {"name": "clipped_first_order", "clip_norm": 0.5}
    metrics = (Path(r["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(m)["tau"] for m in metrics if '"tau"' in m] == [5.0, 0.5]  # 2 epochs at scale=tiny


def test_local_search_climbs_to_the_optimum(plugin: dict[str, str]) -> None:
    """On NB201 with score = number of nor_conv_3x3 edges, every non-optimal cell has a better neighbour, so the
    climb from any start reaches the all-conv cell; a checkpoint taken halfway resumes with the same proposals."""
    from nasflat_toy.local_search import LocalSearch

    from nasflat.context import SearchContext
    from nasflat.evaluators.base import Evaluator
    from nasflat.spaces.nb201 import OPS, NB201Space

    class ConvCount(Evaluator):
        def _score_batch(self, archs: list) -> list[float]:
            return [float(sum(o == OPS.index("nor_conv_3x3") for o in a)) for a in archs]

    space = NB201Space()
    run = LocalSearch(SearchContext(space=space, seed=0), ConvCount(space), budget=175, chunk=25)
    for step in range(3):
        run.run_step(step)
    twin = LocalSearch(SearchContext(space=space, seed=0), ConvCount(space), budget=175, chunk=25)
    twin.load_state_dict(copy.deepcopy(run.state_dict()))
    for step in range(3, 7):
        run.run_step(step)
        twin.run_step(step)
    all_conv = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert run.best() == twin.best() == (space.parse(all_conv), 6.0)
    assert run.history == twin.history and len(run.history) == 175


def test_tempered_softmax_and_clipped_gradient(plugin: dict[str, str]) -> None:
    from nasflat_toy.relaxation import ClippedFirstOrder, TemperedSoftmax

    from nasflat.spaces.nb201 import NB201Space

    relax = TemperedSoftmax(tau_max=4.0, tau_min=1.0).bind(NB201Space())
    alpha = {"cell": torch.randn(6, 5, generator=torch.Generator().manual_seed(0))}
    taus = []
    for epoch in range(3):
        relax.set_epoch(epoch, 3)
        taus.append(relax.schedules()["tau"])
        assert torch.allclose(relax.mixture(alpha).weights["cell"], (alpha["cell"] / taus[-1]).softmax(-1))
    assert taus == [4.0, 2.5, 1.0]

    class Problem:  # the two calls a strategy makes: the α gradient, then its cross-rank average
        def grad(self, alphas: list) -> list:
            return [torch.full((6, 5), 1.0), torch.full((2,), 2.0)]

        def reduce(self, grads: list) -> list:
            return grads

    grads = ClippedFirstOrder(clip_norm=0.5)(Problem(), [])
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    assert float(norm) == pytest.approx(0.5) and float(grads[1][0] / grads[0][0, 0]) == pytest.approx(2.0)
    assert ClippedFirstOrder(clip_norm=100.0)(Problem(), [])[0][0, 0] == 1.0  # below the limit: unchanged


def test_toy_supernet_one_hot_mixture_is_the_path(plugin: dict[str, str]) -> None:
    """The supernet's relaxed forward with one-hot weights equals its single-path forward, for all 27 cells."""
    import itertools

    from nasflat_toy.networks import ToySuperNet

    torch.manual_seed(0)
    net = ToySuperNet(10, C=4, N=2).double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    for arch in itertools.product(range(3), repeat=3):
        weights = {"cell": nn.functional.one_hot(torch.tensor(arch), 3).double()}
        assert torch.allclose(net(x, weights), net(x, arch), atol=1e-12), arch


def test_docs_excerpts_are_the_example_plugin() -> None:
    """Every code block of docs/extending.md headed ``# examples/plugin/<file>`` is that file's lines, in order
    (``...`` lines stand for what the excerpt leaves out)."""
    blocks = re.findall(r"```\w+\n# (examples/plugin/\S+)\n(.*?)```", EXTENDING.read_text(), flags=re.S)
    assert len(blocks) >= 10
    for path, body in blocks:
        lines, at = (REPO / path).read_text().splitlines(), 0
        for line in body.splitlines():
            if not line.strip().startswith("..."):
                assert line in lines[at:], f"{path}: not in the file (after line {at}): {line!r}"
                at = lines.index(line, at) + 1


def test_docs_links_resolve() -> None:
    text = EXTENDING.read_text()
    for target in re.findall(r"\]\(([^)]+)\)", text):
        file, _, anchor = target.partition("#")
        doc = (EXTENDING.parent / file).resolve() if file else EXTENDING
        assert doc.exists(), target
        if anchor:
            body = doc.read_text()
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", body, re.M)}
            assert anchor in slugs | set(re.findall(r'<a id="([^"]+)"></a>', body)), target


def test_nasflat_does_not_know_the_plugin() -> None:
    """Nothing under src/nasflat or conf/ names the example plugin: it works through the contracts alone."""
    pattern = re.compile(r"\b(toy|nasflat_toy|synflow)\b", re.IGNORECASE)
    files = [*(REPO / "src" / "nasflat").rglob("*.py"), *(REPO / "conf").rglob("*.yaml")]
    assert [p.relative_to(REPO).as_posix() for p in files if pattern.search(p.read_text())] == []
