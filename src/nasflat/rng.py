"""Every random stream of a run, derived from (run seed, purpose[, sub-keys]) by one function.

Streams used to be ``seed + offset`` literals spread over the package, and two of them coincided (the DARTS noise
generator and the search-train loader both got ``seed + 302``), so SDARTS-RS noise and the data order were one
stream. Here each use names a :class:`Purpose`; :func:`stream_seed` hashes the run seed, the purpose's name and any
sub-keys (an architecture's text, an epoch) with SHA-256, so streams of different purposes, sub-keys or run seeds
are independent, and adding a purpose never shifts another's numbers.

An explicit seed option of a component (``noise_seed``, ``init_seed``, ``data_seed``, ``bn_seed``) keeps its meaning:
it seeds that component's generator verbatim; where the stream has a sub-key per architecture, the explicit seed takes
the run seed's place as the root.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from enum import Enum

SEED_BITS = 63  # non-negative and below 2**63: valid for torch.manual_seed, torch.Generator and numpy alike


class Purpose(str, Enum):
    """The registry of random streams; the value is the name that is hashed (never rename one: runs would change)."""

    SPLIT = "split"  # the seeded random search-train / search-val halves
    SUPERNET_INIT = "supernet_init"  # supernet weights (SPOS and the DARTS family)
    NETWORK_INIT = "network_init"  # the retrained standalone network's weights
    SUPERNET_DATA = "supernet_data"  # SPOS training: order + augmentation
    SPOS_PATHS = "spos_paths"  # SPOS: the uniformly sampled path of each iteration
    ALPHA_INIT = "alpha_init"  # DARTS family: α = 1e-3 N(0, 1)
    ARCH_NOISE = "arch_noise"  # differentiable: relaxation samples, SDARTS-RS noise, NA-DARTS neighbours
    DARTS_TRAIN_DATA = "darts_train_data"  # DARTS family: weight-step batches
    DARTS_ALPHA_DATA = "darts_alpha_data"  # DARTS family: α-step batches
    DARTS_EVAL_DATA = "darts_eval_data"  # DARTS family: augmentation of the per-epoch held-out evaluation
    ALPHA_HESSIAN_DATA = "alpha_hessian_data"  # DARTS family: the fixed held-out images of the α-Hessian tracking
    ALPHA_HESSIAN_POWER = "alpha_hessian_power"  # DARTS family: power-iteration start vector (sub-key: the epoch)
    RETRAIN_DATA = "retrain_data"  # retraining: order + augmentation + cutout
    RETRAIN_DROP_PATH = "retrain_drop_path"  # retraining: drop-path masks (sub-key: the epoch)
    BN_RECALIBRATION = "bn_recalibration"  # SPOS / GeNAS path evaluators: the recalibration batches
    FLATNESS_NOISE = "flatness_noise"  # GeNAS flatness: weight noise (sub-key: the architecture when per candidate)
    NASWOT_INIT = "naswot_init"  # NASWOT: the scoring network's initialisation
    NASWOT_DATA = "naswot_data"  # NASWOT: the scored batch
    SHORT_TRAIN_INIT = "short_train_init"  # short-training evaluator: each network's initialisation
    SHORT_TRAIN_DATA = "short_train_data"  # short-training evaluator: order + augmentation
    ARCH_SAMPLER = "arch_sampler"  # RS / REA / evolution: candidates, mutations, crossovers
    NEIGHBOR_DRAW = "neighbor_draw"  # NA-RS / NA-REA: the K neighbours drawn per architecture (sub-key: the arch)
    BENCHMARK_NOISE = "benchmark_noise"  # noisy table proxy (sub-key: the table row)
    WEIGHT_SUBSET = "weight_subset"  # analyze weights: the fixed image subset (sub-key: the split)
    WEIGHT_DIRECTIONS = "weight_directions"  # analyze weights: filter-normalized directions (sub-key: the plot)
    WEIGHT_CURVATURE = "weight_curvature"  # analyze weights: power-iteration start, Hutchinson probes


def stream_seed(seed: int, purpose: Purpose, *keys: int | str) -> int:
    """The seed of ``purpose``'s stream in the run seeded ``seed`` (sub-keys: e.g. an architecture or an epoch).

    The hashed text is the JSON list ``[seed, purpose, *keys]``, so ``(1, "a")`` and ``("1", "a")`` or ``(1, 2)`` and
    ``(12,)`` never collide the way concatenations would.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"a run seed must be an integer, got {seed!r} ({type(seed).__name__})")
    if any(isinstance(k, bool) or not isinstance(k, (numbers.Integral, str)) for k in keys):
        raise TypeError(f"stream sub-keys must be integers or strings, got {keys!r}")
    plain = [k if isinstance(k, str) else int(k) for k in keys]
    text = json.dumps([int(seed), Purpose(purpose).value, *plain], separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "little") >> (64 - SEED_BITS)
