"""Accepted ranges of numeric parameters, keyed by parameter name (the annotations give the types, not ranges).

One table for every algorithm, evaluator and phase: a name such as ``epochs`` or ``*_prob`` means the same thing
wherever it appears. The first matching pattern wins; a parameter matching none takes any number.
"""

from __future__ import annotations

import dataclasses
from fnmatch import fnmatchcase


@dataclasses.dataclass(frozen=True)
class Range:
    """An interval of the real line; ``lo``/``hi`` None is unbounded, ``*_open`` excludes the end point."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, x: float) -> bool:
        above = self.lo is None or (x > self.lo if self.lo_open else x >= self.lo)
        below = self.hi is None or (x < self.hi if self.hi_open else x <= self.hi)
        return above and below

    def __str__(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


AT_LEAST_0 = Range(0)
AT_LEAST_1 = Range(1)
POSITIVE = Range(0, lo_open=True)
UNIT = Range(0, 1)
UNIT_OPEN_TOP = Range(0, 1, hi_open=True)

RANGES: tuple[tuple[str, Range], ...] = (
    # seeds and sizes
    ("seed", AT_LEAST_0),
    ("*_seed", AT_LEAST_0),
    ("arch_warmup_epochs", AT_LEAST_0),  # differentiable search: epochs without α updates (PC-DARTS)
    ("tail_epochs", AT_LEAST_0),  # DARTS-PT: extra tuning epochs in its schedule (NB201 0, DARTS space 1)
    ("*epochs", AT_LEAST_1),  # epochs, the DARTS- decay length
    ("*batch_size", AT_LEAST_1),
    *((name, AT_LEAST_1) for name in ("budget", "chunk", "population", "generations", "select", "sample_size")),
    *((name, AT_LEAST_1) for name in ("samples", "radius", "patience", "C", "N", "layers", "stem_multiplier")),
    *((name, AT_LEAST_0) for name in ("mutations", "crossovers", "neighbors", "threads", "cutout", "eval_every")),
    ("max_*", AT_LEAST_1),  # max_train, max_test, max_batches
    ("resolution", Range(4)),  # dataset.resolution: downsampled image size
    ("num_archs", Range(2, 15625)),  # analyze evaluators: NB201 architectures to score (at most the whole table)
    *((name, AT_LEAST_1) for name in ("top_k", "epochs_to_compare")),
    ("seeds", AT_LEAST_0),
    # analyze landscape: NB201 Hamming radii (6 edges), the "good" percentage, figure bins
    *((name, Range(1, 6)) for name in ("radii", "generalization_radius")),
    ("top_q", Range(0, 100, lo_open=True)),
    *((name, AT_LEAST_1) for name in ("precision_k", "bins")),
    ("*bn_images", AT_LEAST_0),
    ("eval_images", AT_LEAST_0),  # 0: no held-out evaluation (before *val_images, which it also matches)
    ("*val_images", AT_LEAST_1),
    # optimisation
    ("lr", POSITIVE),
    ("*_lr", POSITIVE),
    ("lr_min", AT_LEAST_0),
    ("momentum", UNIT_OPEN_TOP),
    ("*weight_decay", AT_LEAST_0),
    ("grad_clip", POSITIVE),
    ("label_smoothing", UNIT_OPEN_TOP),
    ("arch_betas", UNIT_OPEN_TOP),
    ("aux_weight", AT_LEAST_0),
    # probabilities, portions, noise
    ("*_prob", UNIT),  # mutation_prob, drop_path_prob
    ("split_portion", Range(0, 1, lo_open=True, hi_open=True)),
    ("stds", POSITIVE),
    ("std", POSITIVE),
    ("noise_std", AT_LEAST_0),
    # method constants
    ("epsilon", POSITIVE),  # A²M's finite-difference step
    ("r", POSITIVE),  # 2nd-order DARTS's finite-difference scale
    *((name, AT_LEAST_0) for name in ("rho", "gamma", "alpha", "lam", "tau")),  # lam: MiLeNAS, tau: β-DARTS
    ("epsilon_*", AT_LEAST_0),  # SDARTS-RS's noise radius (epsilon_min, epsilon_max)
    # α-Hessian tracking (algo.hessian) and DARTS-ES (algo.selection=darts_es)
    *((name, AT_LEAST_1) for name in ("images", "iters", "every", "window", "delta")),
    *((name, AT_LEAST_0) for name in ("exact_max", "start_epoch")),
    ("factor", POSITIVE),
    ("tol", POSITIVE),
    # analyze weights: image counts, grid sizes and span, power iteration, Hutchinson probes
    *((name, AT_LEAST_1) for name in ("landscape_images", "hessian_images", "flatness_images", "power_iters")),
    *((name, AT_LEAST_1) for name in ("trace_samples",)),
    *((name, Range(2)) for name in ("points_1d", "points_2d")),
    *((name, POSITIVE) for name in ("span", "tol")),
)


def range_for(name: str) -> Range | None:
    """The accepted range of a numeric parameter called ``name`` (None: any number)."""
    return next((r for pattern, r in RANGES if fnmatchcase(name, pattern)), None)
