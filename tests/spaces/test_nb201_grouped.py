"""The NB201 supernet's grouped kernel (spaces/nb201/grouped.py) computes what the per-op cell computes.

Float64 tiny supernets built twice from one seed: the logits, the gradients w.r.t. the mixture weights and every
parameter, and the BN running statistics after a step agree to rounding; the cases the grouped kernel leaves to the
per-op code give the per-op result; a tiny DARTS search ends with the same α under either kernel; the option reaches
the supernet from the config and a wrong value is refused.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from nasflat.checkpoint import CheckpointStore
from nasflat.config import ConfigError, validate
from nasflat.hardware import Hardware
from nasflat.phases import run_phase
from nasflat.spaces.mixture import Mixture
from nasflat.spaces.nb201 import EDGES, OPS, NB201Space, supernet
from nasflat.spaces.nb201.grouped import grouped_mix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_darts_algorithms import build, tracker

SPACE = NB201Space()
E, K = len(EDGES), len(OPS)


def net(kernel: str, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    return SPACE.supernet(10, C=4, N=1, kernel=kernel, **options).double()


def mixture(edges: bool = False, aux: float = 0.0, zero: bool = False, index: bool = False) -> Mixture:
    g = torch.Generator().manual_seed(3)
    w = torch.rand(E, K, generator=g, dtype=torch.float64).softmax(-1)
    if zero:  # whole ops and a whole edge switched off
        w = w * (torch.rand(E, K, generator=g, dtype=torch.float64) > 0.4)
        w[2] = 0.0
    w = w.requires_grad_()
    ew = {"cell": torch.rand(E, generator=g, dtype=torch.float64) + 0.5} if edges else None
    idx = {"cell": torch.tensor([0, 3, 1, 2, 4, 3])} if index else None
    return Mixture({"cell": w}, index=idx, edge_weights=ew, aux_skip=aux)


X = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def step(model: torch.nn.Module, m: Mixture) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits, and the gradients of a loss w.r.t. the mixture weights and every parameter (one forward)."""
    out = model(X, m)
    inputs = [m.weights["cell"], *model.parameters()]
    grads = torch.autograd.grad(out.square().sum() + out[:, 0].sum(), inputs, allow_unused=True)
    return out, [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads)]


def assert_same(a: torch.nn.Module, b: torch.nn.Module, m: Mixture) -> None:
    (out_a, grads_a), (out_b, grads_b) = step(a, m), step(b, m)
    torch.testing.assert_close(out_a, out_b, rtol=1e-10, atol=1e-12)
    for name, ga, gb in zip(["weights", *(n for n, _ in a.named_parameters())], grads_a, grads_b):
        torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-12, msg=lambda s, n=name: f"{n}: {s}")
    for (name, ba), bb in zip(a.named_buffers(), b.buffers()):  # running statistics after the step
        torch.testing.assert_close(ba, bb, rtol=1e-10, atol=1e-12, msg=lambda s, n=name: f"{n}: {s}")


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("track", [False, True])
@pytest.mark.parametrize(
    ("edges", "aux", "zero"),
    [(False, 0.0, False), (True, 0.0, False), (False, 0.3, False), (True, 0.2, True), (False, 0.0, True)],
)
def test_grouped_kernel_gives_the_per_op_logits_gradients_and_running_stats(affine, track, edges, aux, zero):
    options = {"affine": affine, "track_running_stats": track, "aux_skip": bool(aux)}
    grouped, per_op = net("grouped", **options), net("per_op", **options)
    m = mixture(edges, aux, zero)
    assert_same(grouped, per_op, m)
    assert_same(grouped, per_op, m)  # a second step from the updated running statistics
    assert_same(grouped.eval(), per_op.eval(), m)  # eval mode: BN from the running statistics


@pytest.mark.parametrize(("edges", "aux", "zero"), [(False, 0.0, False), (True, 0.3, True)])
def test_both_layouts_of_the_grouped_kernel_give_the_per_op_result(monkeypatch, edges, aux, zero):
    """On CPU the kernel runs channels-last and sums by node (the tests above); the 5-D broadcast path CUDA takes
    is checked here on CPU, and the cells' output is channels-last only on the CPU path."""
    m, options = mixture(edges, aux, zero), {"track_running_stats": True, "aux_skip": bool(aux)}
    layouts = {}
    for channels_last in (False, True):
        grouped = net("grouped", **options)
        monkeypatch.setattr(supernet, "grouped_mix", functools.partial(grouped_mix, channels_last=channels_last))
        block = grouped.cells[1]  # the first residual block: its input is the first cell's output
        block.register_forward_pre_hook(lambda _, args, c=channels_last: layouts.setdefault(c, args[0]))
        assert_same(grouped, net("per_op", **options), m)
    assert not layouts[False].is_contiguous(memory_format=torch.channels_last)
    assert layouts[True].is_contiguous(memory_format=torch.channels_last)


def test_the_grouped_kernel_is_the_default_and_faster_in_kernel_count():
    calls = {}
    for kernel in ("grouped", "per_op"):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            net(kernel)(X, mixture())
        calls[kernel] = sum(e.count for e in prof.key_averages() if e.key == "aten::convolution")
    assert SPACE.supernet(10, C=4, N=1).kernel == "grouped"
    # 3 cells: 12 convs each per op, 3 sources x (1x1, 3x3, pool) grouped, except that the pool of the 16-channel
    # cell is avg_pool2d on CPU (C=4: widths 4, 8, 16); stem and 2 residual blocks: 7
    assert (calls["per_op"], calls["grouped"]) == (3 * 12 + 7, 3 * 9 - 3 + 7)


@pytest.mark.parametrize(
    ("options", "m"),
    [({}, mixture(index=True)), ({"partial_channels": 2}, mixture()), ({"partial_channels": 2}, mixture(edges=True))],
    ids=["gdas-hard-index", "partial-channels", "partial-channels-edge-weights"],
)
def test_cases_the_grouped_kernel_leaves_run_the_per_op_code(options, m):
    assert_same(net("grouped", **options), net("per_op", **options), m)


def test_a_cross_rank_batch_norm_falls_back_to_the_per_op_cell():
    class OtherBN(torch.nn.BatchNorm2d):  # stands in for SyncBatchNorm / GlobalBatchNorm2d
        calls = 0

        def forward(self, x):
            OtherBN.calls += 1
            return super().forward(x)

    grouped = net("grouped")
    cell = grouped.cells[0]
    old = cell.edges[4][3][2]
    cell.edges[4][3][2] = OtherBN(old.num_features, affine=old.affine).double()
    cell.edges[4][3][2].load_state_dict(old.state_dict())
    per_op = net("per_op")
    per_op.load_state_dict(grouped.state_dict())
    assert_same(grouped, per_op, mixture())
    assert OtherBN.calls == 1  # the cell holding it ran per op (one forward)


def test_single_paths_and_state_dicts_do_not_depend_on_the_kernel():
    grouped, per_op = net("grouped"), net("per_op")
    assert grouped.state_dict().keys() == per_op.state_dict().keys()
    torch.testing.assert_close(grouped(X, (3, 1, 2, 4, 3, 0)), per_op(X, (3, 1, 2, 4, 3, 0)), rtol=0, atol=0)


def test_a_tiny_darts_search_ends_with_the_same_alphas_under_either_kernel(tmp_path):
    runs = {}  # in float64: float32 round-off (the grouped kernel's channels-last convs round differently) is
    for kernel in ("grouped", "per_op"):  # amplified by Adam wherever an α gradient is near zero
        hardware = Hardware(dtype="float64")
        search = build("darts", "nb201", f"tiny.search.kernel={kernel}", "algo.track_hessian=false", hardware=hardware)
        assert search.model.kernel == kernel
        run_phase(search, CheckpointStore(tmp_path / kernel, "fp"), tracker(tmp_path / kernel))
        runs[kernel] = search
    for name, a in runs["grouped"].alphas.items():
        assert not torch.equal(a, torch.zeros_like(a))  # α moved
        torch.testing.assert_close(a, runs["per_op"].alphas[name], rtol=1e-8, atol=1e-10)


def test_the_kernel_is_a_search_net_option_and_a_wrong_one_is_refused():
    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        ok = compose("search", overrides=["space=nb201", "search_net.kernel=per_op"])
        bad = compose("search", overrides=["space=nb201", "search_net.kernel=fast"])
    validate(ok, "search")
    assert SPACE.supernet(10, **{**ok.search_net, "C": 4, "N": 1}).kernel == "per_op"
    with pytest.raises(ConfigError, match=r"search_net\.kernel=fast"):
        validate(bad, "search")
    with pytest.raises(ValueError, match=r"kernel='fast'"):
        SPACE.supernet(10, C=4, N=1, kernel="fast")


def test_forward_hooks_on_op_modules_still_fire():
    called = []
    model = net("grouped")
    model.cells[0].edges[1][2][1].register_forward_hook(lambda *_: called.append(1))
    assert_same(model, net("per_op"), mixture())
    assert called == [1]  # the hooked cell ran per op; the other cells stay grouped
