"""`nasflat analyze weights RUN_DIR`: how flat is the minimum a trained network sits in
(docs/analysis.md#weight-space-landscape-analyze-weights).

Three views of one set of trained weights, all with BN in eval mode: Li et al.'s (2018) loss and accuracy along
random filter-normalized directions (1D curve, 2D surface), the weight Hessian's dominant eigenvalue and trace, and
GeNAS's flatness F. The network is a retrained standalone network (``final_model.pt``) or one path of a SPOS-trained
supernet (then BN is first recalibrated on the path, as the GeNAS/SPOS evaluators do).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from nasflat.analysis.weights_landscape import (
    Forward,
    curvature,
    filter_normalized_direction,
    flatness_losses,
    grid,
    per_image,
    surface,
)
from nasflat.analysis.weights_source import ModelSource
from nasflat.context import SearchContext
from nasflat.data import fixed_batches
from nasflat.evaluators.flatness import check_stds, flatness_from_losses
from nasflat.evaluators.paths import PathData
from nasflat.rng import Purpose, stream_seed

Role = Literal["train", "heldout"]
# the images each role means: the ones the weights were trained on, or ones they never saw
SPLITS: dict[str, dict[str, str]] = {
    "network": {"train": "train", "heldout": "test"},
    "supernet": {"train": "search_train", "heldout": "search_val"},
}


@dataclass(frozen=True)
class WeightsConfig:
    """Sizes of the analysis (the config node ``weights``); defaults finish in about a minute on a CPU."""

    split: Role = "train"  # landscape and Hessian: the training loss, as Li et al. plot it
    landscape_images: int = 512
    points_1d: int = 21  # Li et al.: 51 points over [-1, 1]
    points_2d: int = 11  # per axis
    span: float = 1.0  # the grid covers [-span, span] along each direction
    hessian_images: int = 256
    power_iters: int = 100
    tol: float = 1e-4
    trace_samples: int = 20
    flatness_split: Role = "heldout"  # GeNAS scores on images the weights were not trained on
    flatness_images: int = 512
    stds: tuple[float, ...] = (0.001, 0.003, 0.006)
    cumulative: bool = True
    alpha: float = 1.0
    bn_images: int = 850  # supernet paths only: SPOS/GeNAS BN recalibration
    batch_size: int = 256  # forward chunk (memory only; losses are means over all images)

    def __post_init__(self) -> None:
        check_stds(self.stds)
        if min(self.points_1d, self.points_2d) < 2:
            raise ValueError(f"weights.points_1d / points_2d must be >= 2, got {self.points_1d}, {self.points_2d}")


@dataclass
class Subject:
    """The module under analysis, in eval mode, and how to run it (a supernet runs one path)."""

    model: nn.Module
    forward: Forward
    source: ModelSource
    bn: str  # where BN's running statistics come from (said in every output)


def subject(source: ModelSource, space: Any, ctx: SearchContext, bn_images: int) -> Subject:
    """Rebuild the stored module on the context's device; a supernet path gets SPOS/GeNAS BN recalibration."""
    model = ctx.hardware.prepare(source.build(space, ctx.num_classes))
    if source.kind == "network":
        model.eval()

        def forward(x: torch.Tensor) -> torch.Tensor:
            out = model(x)
            return out[0] if isinstance(out, tuple) else out

        return Subject(model, forward, source, "eval mode, the running statistics stored with the weights")
    arch = space.parse(source.arch)
    PathData(ctx, bn_images=bn_images).recalibrate(model, arch)  # the search's own recalibration batches
    return Subject(
        model,
        lambda x: model(x, arch),
        source,
        f"eval mode, recalibrated on {bn_images} augmented search-train images for this path (SPOS/GeNAS)",
    )


def images(ctx: SearchContext, split: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed subset of ``split``: the first ``n`` of a seeded permutation (so smaller subsets nest), in index order,
    normalized without augmentation."""
    g = torch.Generator().manual_seed(stream_seed(seed, Purpose.WEIGHT_SUBSET, split))
    (batch,) = fixed_batches(
        ctx.data.splits[split],
        images=n,
        batch_size=n,
        generator=g,
        mean=ctx.data.mean,
        std=ctx.data.std,
        device=ctx.hardware.torch_device,
        dtype=ctx.hardware.torch_dtype,
        in_order=True,
    )
    return batch


def analyze(sub: Subject, ctx: SearchContext, cfg: WeightsConfig, seed: int) -> dict[str, Any]:
    """Every number of the report, as plain data (weights.json)."""
    splits = SPLITS[sub.source.kind]
    params = list(sub.model.parameters())
    clock: dict[str, float] = {}
    t = time.perf_counter()
    land = images(ctx, splits[cfg.split], cfg.landscape_images, seed)
    g = torch.Generator().manual_seed(stream_seed(seed, Purpose.WEIGHT_DIRECTIONS))
    dx, dy = filter_normalized_direction(params, g), filter_normalized_direction(params, g)
    centre = surface(sub.forward, params, [], [()], land, cfg.batch_size)
    axis1, axis2 = grid(cfg.points_1d, cfg.span), grid(cfg.points_2d, cfg.span)
    curve = surface(sub.forward, params, [dx], [(a,) for a in axis1], land, cfg.batch_size)
    plane = surface(sub.forward, params, [dx, dy], [(a, b) for b in axis2 for a in axis2], land, cfg.batch_size)
    clock["landscape"], t = time.perf_counter() - t, time.perf_counter()
    hess = images(ctx, splits[cfg.split], cfg.hessian_images, seed)
    g = torch.Generator().manual_seed(stream_seed(seed, Purpose.WEIGHT_CURVATURE))
    curv = curvature(sub.forward, params, hess, g, iters=cfg.power_iters, tol=cfg.tol, samples=cfg.trace_samples)
    clock["hessian"], t = time.perf_counter() - t, time.perf_counter()
    flat = images(ctx, splits[cfg.flatness_split], cfg.flatness_images, seed)
    noise_seed = stream_seed(seed, Purpose.FLATNESS_NOISE, sub.source.arch)  # the flatness evaluator's stream
    kw = {"stds": cfg.stds, "seed": noise_seed, "cumulative": cfg.cumulative, "batch_size": cfg.batch_size}
    losses = flatness_losses(sub.forward, params, flat, **kw)
    loss_0 = float(per_image(sub.forward, *flat, cfg.batch_size)[0].mean())
    clock["flatness"] = time.perf_counter() - t
    n = len(axis2)
    return {
        "source": _describe(sub, ctx),
        "bn": sub.bn,
        "seed": seed,
        "settings": asdict(cfg),
        "images": {
            "landscape": {"split": splits[cfg.split], "count": len(land[1])},
            "hessian": {"split": splits[cfg.split], "count": len(hess[1])},
            "flatness": {"split": splits[cfg.flatness_split], "count": len(flat[1])},
        },
        "centre": {"loss": centre.loss[0], "acc": centre.acc[0]},
        "hessian": asdict(curv),
        "flatness": {
            "F": flatness_from_losses(losses, cfg.stds, cfg.alpha),
            "losses": losses,
            "loss_0": loss_0,
            "stds": list(cfg.stds),
            "noise_seed": noise_seed,
        },
        "landscape_1d": {"coords": axis1, "loss": curve.loss, "acc": curve.acc},
        "landscape_2d": {
            "x": axis2,
            "y": axis2,
            "loss": [plane.loss[i * n : (i + 1) * n] for i in range(n)],  # rows: y, columns: x
            "acc": [plane.acc[i * n : (i + 1) * n] for i in range(n)],
        },
        "wall_time_s": clock,
    }


def _describe(sub: Subject, ctx: SearchContext) -> dict[str, Any]:
    src = sub.source
    return {
        "kind": src.kind,
        "file": str(src.file),
        "run_dir": str(src.run_dir),
        "arch": src.arch,
        "dataset": ctx.data.name,
        "options": src.options,
        "params": sum(p.numel() for p in sub.model.parameters()),
        "device": ctx.hardware.device,
        "dtype": ctx.hardware.dtype,
    }
