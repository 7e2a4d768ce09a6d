"""`analyze weights`: every reported number against an independent computation (hand formulas, manually moved
weights, the exact Hessian), the model files it accepts and refuses, and the CLI end to end."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import nasflat
from nasflat.analysis.curvature import dominant_eigenvalue, exact_hessian, hvp_operator, max_eigenvalue
from nasflat.analysis.weights import SPLITS, WeightsConfig, analyze, images, subject
from nasflat.analysis.weights_landscape import (
    FILTER_EPS,
    batch_mean,
    curvature,
    filter_normalized_direction,
    flatness_losses,
    grid,
    surface,
)
from nasflat.analysis.weights_report import csv_rows, main_rows
from nasflat.analysis.weights_source import locate
from nasflat.cli import _positional_run_dir
from nasflat.context import DataSpec, SearchContext
from nasflat.evaluators.flatness import EPS
from nasflat.hardware import Hardware
from nasflat.rng import Purpose, stream_seed
from nasflat.spaces.nb201 import NB201Space

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
TINY = {"C": 4, "N": 1}


def tiny_net(seed: int = 0) -> nn.Module:
    """Conv (with bias) + BN + linear: filters, 1-d parameters and running statistics, a few hundred weights."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.Tanh(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 3),
    ).double()
    with torch.no_grad():  # non-trivial running statistics, so eval mode differs from train mode
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net.eval()


def batch(n: int = 24, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 6, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def direct(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        logits = net(x)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).double().mean())


def test_filter_normalization_by_hand():
    net = tiny_net()
    params = list(net.parameters())
    d = filter_normalized_direction(params, torch.Generator().manual_seed(5))
    raw = torch.Generator().manual_seed(5)  # the same draws, made by hand, in parameter order
    for p, di in zip(params, d):
        r = torch.randn(p.shape, generator=raw, dtype=p.dtype)
        if p.dim() <= 1:  # conv bias, BN weight and bias, linear bias
            assert torch.count_nonzero(di) == 0
            continue
        for f in range(p.shape[0]):  # every filter: the draw rescaled to the weight filter's norm
            expected = r[f] * p[f].norm() / (r[f].norm() + FILTER_EPS)
            assert torch.allclose(di[f], expected, rtol=1e-12, atol=0)
            assert float(di[f].norm()) == pytest.approx(float(p[f].detach().norm()), rel=1e-9)
    assert sum(p.dim() <= 1 for p in params) == 4 and sum(p.dim() > 1 for p in params) == 2


def test_grid_is_symmetric_with_an_exact_centre():
    assert grid(5, 2.0) == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert grid(21, 1.0)[10] == 0.0 and len(grid(21, 1.0)) == 21
    with pytest.raises(ValueError, match="at least 2"):
        grid(1, 1.0)


def test_1d_curve_at_zero_is_the_models_loss_and_points_are_manually_moved_weights():
    net, (x, y) = tiny_net(), batch()
    params = list(net.parameters())
    before = [p.detach().clone() for p in params]
    g = torch.Generator().manual_seed(0)
    dx, dy = filter_normalized_direction(params, g), filter_normalized_direction(params, g)
    axis = grid(5, 1.0)
    curve = surface(net, params, [dx], [(a,) for a in axis], (x, y), batch_size=7)  # chunks of 7: 24 = 7+7+7+3
    loss0, acc0 = direct(net, x, y)
    assert curve.loss[2] == pytest.approx(loss0, rel=1e-12) and curve.acc[2] == acc0
    plane = surface(net, params, [dx, dy], [(0.5, -1.0), (-1.0, 0.5)], (x, y), batch_size=24)
    assert all(torch.equal(p, b) for p, b in zip(params, before))  # weights restored
    for (a, b), loss, acc in zip(plane.coords, plane.loss, plane.acc):
        moved = copy.deepcopy(net)
        with torch.no_grad():
            for p, w, u, v in zip(moved.parameters(), before, dx, dy):
                p.copy_(w + a * u + b * v)
        assert (loss, acc) == pytest.approx(direct(moved, x, y), rel=1e-12)
    one = surface(net, params, [dx], [(1.0,)], (x, y), batch_size=24)
    assert one.loss[0] == pytest.approx(curve.loss[4], rel=1e-12)


def test_dominant_eigenvalue_and_trace_against_the_exact_hessian():
    net, (x, y) = tiny_net(), batch()
    params = list(net.parameters())
    hessian = exact_hessian(lambda: F.cross_entropy(net(x), y), params)
    names = [n for n, _ in net.named_parameters()]

    def loss_of(flat: torch.Tensor) -> torch.Tensor:  # torch.autograd.functional.hessian as a second reference
        chunks, i = {}, 0
        for n, p in zip(names, params):
            chunks[n] = flat[i : i + p.numel()].view_as(p)
            i += p.numel()
        return F.cross_entropy(torch.func.functional_call(net, chunks, (x,)), y)

    flat = torch.cat([p.detach().reshape(-1) for p in params])
    assert torch.allclose(torch.autograd.functional.hessian(loss_of, flat), hessian, atol=1e-10)
    g = torch.Generator().manual_seed(0)
    c = curvature(net, params, (x, y), g, iters=3000, tol=1e-13, samples=50)
    assert c.num_params == flat.numel() and c.converged
    assert c.eigenvalue == pytest.approx(max_eigenvalue(hessian), rel=1e-6)
    # Hutchinson by hand: the same Rademacher probes (drawn after the power iteration's start vectors), zᵀHz with
    # the exact Hessian
    g = torch.Generator().manual_seed(0)
    dominant_eigenvalue(hvp_operator(lambda: F.cross_entropy(net(x), y), params), params, g, iters=3000, tol=1e-13)
    probes = [
        torch.cat([(torch.randint(0, 2, p.shape, generator=g) * 2 - 1).reshape(-1) for p in params]) for _ in range(50)
    ]
    values = torch.stack([z.double() @ hessian @ z.double() for z in probes])
    assert c.trace == pytest.approx(float(values.mean()), rel=1e-9)
    assert c.trace_se == pytest.approx(float(values.std() / math.sqrt(50)), rel=1e-9)


def test_genas_losses_and_F_by_hand():
    net, (x, y) = tiny_net(), batch(n=100)  # 100 images: loss batches of 64 and 36, unlike the plain mean
    params = list(net.parameters())
    stds, seed = (0.001, 0.003, 0.006), 11
    for cumulative in (True, False):
        losses = flatness_losses(net, params, (x, y), stds=stds, seed=seed, cumulative=cumulative, batch_size=30)
        g, moved, prev = torch.Generator().manual_seed(seed), copy.deepcopy(net), 0.0
        for s, got in zip(stds, losses):
            with torch.no_grad():
                for p, p0 in zip(moved.parameters(), net.parameters()):
                    if not cumulative:
                        p.copy_(p0)
                    p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * (s - prev if cumulative else s))
            prev = s
            with torch.no_grad():
                first, second = (F.cross_entropy(moved(x[a:b]), y[a:b]) for a, b in ((0, 64), (64, 100)))
            assert got == pytest.approx(float((first + second) / 2), rel=1e-12)
    f_hand = 1 / (abs(losses[0] / 0.001) + abs((losses[1] - losses[0]) / 0.002) + abs((losses[2] - losses[1]) / 0.003))
    from nasflat.evaluators.flatness import flatness_from_losses

    assert flatness_from_losses(losses, stds) == pytest.approx(1 / (1 / f_hand + EPS), rel=1e-12)
    ce = torch.arange(100, dtype=torch.float64)
    assert batch_mean(ce) == pytest.approx((31.5 + 81.5) / 2) and batch_mean(ce[:64]) == pytest.approx(31.5)


# ---- a run directory as the pipeline writes it, with a tiny NB201 network on the embedded digits -----------------


def run_config() -> dict:
    return {
        "seed": 0,
        "space": {"_target_": "nasflat.spaces.nb201.NB201Space"},
        "dataset": {"_target_": "nasflat.context.DataSpec", "name": "digits", "root": ""},
        "retrain": {"_target_": "nasflat.train.RetrainConfig", "network": dict(TINY)},
        "search_net": dict(TINY),
        "supernet": {"_target_": "nasflat.train.SupernetTrainer", "_partial_": True, "epochs": 1, "affine": True},
        "algo": {"_target_": "nasflat.algorithms.random_search.RandomSearch", "_partial_": True},
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("run") / "search" / "experiment=demo"
    (d / "checkpoints").mkdir(parents=True)
    space = NB201Space()
    torch.manual_seed(0)
    torch.save(space.network(space.parse(ARCH), 10, **TINY).state_dict(), d / "final_model.pt")
    supernet = space.supernet(10, affine=True, **TINY)
    phase = {"model": supernet.state_dict(), "init": supernet.state_dict(), "rng": "{}"}
    torch.save({"fingerprint": "x", "step": 1, "phase": phase}, d / "checkpoints" / "supernet.pt")
    (d / "run.json").write_text(json.dumps({"fingerprint": "x", "config": run_config()}))
    (d / "arch.txt").write_text(ARCH + "\n")
    return d


@pytest.fixture(scope="module")
def ctx() -> SearchContext:
    spec = DataSpec(name="digits", root="").with_default_split("random")
    return SearchContext(space=NB201Space(), seed=0, hardware=Hardware(), data_spec=spec)


SMALL = WeightsConfig(
    landscape_images=40,
    points_1d=3,
    points_2d=3,
    hessian_images=16,
    power_iters=50,
    tol=1e-3,
    trace_samples=4,
    flatness_images=70,
    bn_images=64,
    batch_size=32,
)


@pytest.mark.parametrize("kind", ["network", "supernet"])
def test_analysis_numbers_match_direct_computations(run_dir, ctx, kind):
    source = locate(run_dir, ARCH if kind == "supernet" else None)
    assert source.kind == kind and source.arch == ARCH
    sub = subject(source, NB201Space(), ctx, SMALL.bn_images)
    assert not sub.model.training and "eval mode" in sub.bn
    r = analyze(sub, ctx, SMALL, seed=3)
    x, y = images(ctx, SPLITS[kind]["train"], 40, 3)
    assert len(y) == 40 and r["images"]["landscape"] == {"split": SPLITS[kind]["train"], "count": 40}
    with torch.no_grad():
        logits = sub.forward(x)
    assert r["centre"]["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-6)
    assert r["centre"]["acc"] == pytest.approx(float((logits.argmax(1) == y).double().mean()))
    assert r["landscape_1d"]["loss"][1] == pytest.approx(r["centre"]["loss"], rel=1e-6)
    assert r["landscape_2d"]["loss"][1][1] == pytest.approx(r["centre"]["loss"], rel=1e-6)
    f = r["flatness"]
    fx, fy = images(ctx, SPLITS[kind]["heldout"], 70, 3)
    assert r["images"]["flatness"] == {"split": SPLITS[kind]["heldout"], "count": 70}
    with torch.no_grad():
        assert f["loss_0"] == pytest.approx(float(F.cross_entropy(sub.forward(fx), fy)), rel=1e-6)
    hand = 1 / (
        abs(f["losses"][0] / 0.001)
        + abs((f["losses"][1] - f["losses"][0]) / 0.002)
        + abs((f["losses"][2] - f["losses"][1]) / 0.003)
        + EPS
    )
    assert f["F"] == pytest.approx(hand, rel=1e-12)
    assert f["noise_seed"] == stream_seed(3, Purpose.FLATNESS_NOISE, ARCH)
    h = r["hessian"]
    assert h["converged"] and math.isfinite(h["trace"]) and h["trace_se"] >= 0
    own = sum(p.numel() for p in sub.model.parameters())
    assert (h["num_params"] == own) if kind == "network" else (0 < h["num_params"] < own)  # off-path unused
    assert len(csv_rows(r)) == 3 + 9 and len(main_rows(r)) == 6


def test_refusals_name_the_file_and_what_to_do(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        locate(tmp_path / "nope", None)
    with pytest.raises(FileNotFoundError, match=r"no final_model.pt.*arch="):
        empty = tmp_path / "empty"
        (empty / "checkpoints").mkdir(parents=True)
        (empty / "checkpoints" / "supernet.pt").write_bytes((run_dir / "checkpoints" / "supernet.pt").read_bytes())
        locate(empty, None)
    with pytest.raises(ValueError, match=r"trained supernet: pass arch="):
        locate(run_dir / "checkpoints" / "supernet.pt", None)
    with pytest.raises(ValueError, match="drop arch="):
        locate(run_dir / "final_model.pt", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "final_model.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"broken/final_model.pt is corrupt or unreadable"):
        locate(broken, None)
    (broken / "final_model.pt").write_bytes((run_dir / "final_model.pt").read_bytes())
    with pytest.raises(FileNotFoundError, match=r"no run\.json or \.hydra/config\.yaml"):
        locate(broken, None)


def test_positional_run_dir(tmp_path):
    named = tmp_path / "experiment=demo"
    named.mkdir()
    args = ["-m", "--cfg", "job", "seed=1", str(named), "weights.span=0.5"]
    assert _positional_run_dir(args) == ["-m", "--cfg", "job", "seed=1", f"run_dir={named}", "weights.span=0.5"]
    assert _positional_run_dir(["outputs/x", "seed=1"]) == ["run_dir=outputs/x", "seed=1"]
    assert _positional_run_dir(["seed=1"]) == ["seed=1"]


@pytest.mark.slow  # two CLI processes: about 10 s on an idle 2-core machine
def test_cli_end_to_end(run_dir, tmp_path):
    sizes = [f"weights.{k}={v}" for k, v in (("landscape_images", 32), ("points_1d", 3), ("points_2d", 2))]
    sizes += [f"weights.{k}={v}" for k, v in (("hessian_images", 8), ("power_iters", 5), ("trace_samples", 2))]
    sizes += ["weights.flatness_images=32"]
    proc = nasflat("analyze", "weights", str(run_dir), f"out_root={tmp_path}", *sizes, check=True)
    (out,) = (tmp_path / "analyze" / "weights").glob("*/*/weights.json")
    r = json.loads(out.read_text())
    assert out.parent.parent.name.endswith("experiment=demo") and r["source"]["kind"] == "network"
    assert f"{r['hessian']['eigenvalue']:.6g}" in proc.stdout and f"{r['flatness']['F']:.6g}" in proc.stdout
    for name in ("weights.md", "weights.csv", "weights_1d.png", "weights_2d_loss.png", "weights_2d_acc.png"):
        assert (out.parent / name).stat().st_size > 0
    bad = nasflat("analyze", "weights", str(run_dir), f"out_root={tmp_path}", "weights.points_1d=1")
    assert bad.returncode == 2 and "weights.points_1d=1: out of range" in bad.stderr


def test_config_composes_validates_and_refuses_bad_values():
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    from nasflat.config import ConfigError, validate

    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        cfg = compose("analyze_weights", overrides=["run_dir=x"])
        validate(cfg, "analyze weights")
        assert instantiate(cfg.weights, _convert_="all") == WeightsConfig(stds=[0.001, 0.003, 0.006])
        bad = compose("analyze_weights", overrides=["run_dir=x", "weights.points_2d=1", "weights.split=test"])
        with pytest.raises(ConfigError) as err:
            validate(bad, "analyze weights")
    assert "weights.points_2d=1: out of range" in str(err.value) and "weights.split=test: not an option" in str(
        err.value
    )
