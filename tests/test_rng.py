"""Random streams: one per named purpose, derived from the run seed by nasflat.rng.stream_seed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from nasflat.rng import SEED_BITS, Purpose, stream_seed

RUN_SEEDS = (0, 1, 2, 3, 7, 42, 1234, 2**31 - 1)


def test_no_two_purposes_or_run_seeds_share_a_stream():
    seeds = {(s, p): stream_seed(s, p) for s, p in itertools.product(RUN_SEEDS, Purpose)}
    assert len(set(seeds.values())) == len(RUN_SEEDS) * len(Purpose)
    assert all(0 <= v < 2**SEED_BITS for v in seeds.values())
    # the streams themselves differ, not only their seeds: the first draws of every stream are distinct
    firsts = {tuple(torch.randn(4, generator=torch.Generator().manual_seed(v)).tolist()) for v in seeds.values()}
    assert len(firsts) == len(seeds)


def test_the_old_offsets_collision_is_gone():
    """DARTS's noise generator (seed + 301 + 1) and its train loader (seed + 302) used to be one stream."""
    for s in RUN_SEEDS:
        assert stream_seed(s, Purpose.ARCH_NOISE) != stream_seed(s, Purpose.DARTS_TRAIN_DATA)
        assert stream_seed(s, Purpose.ALPHA_INIT) != stream_seed(s, Purpose.BN_RECALIBRATION)  # both seed + 301


def test_sub_keys_give_distinct_streams_and_the_encoding_is_unambiguous():
    archs = [f"|nor_conv_3x3~0|+|none~0|skip_connect~1|+|op{i}~0|" for i in range(50)]
    per_arch = [stream_seed(0, Purpose.FLATNESS_NOISE, a) for a in archs]
    assert len(set(per_arch)) == len(archs)
    assert stream_seed(0, Purpose.FLATNESS_NOISE) not in per_arch
    assert stream_seed(0, Purpose.RETRAIN_DROP_PATH, 1, 2) != stream_seed(0, Purpose.RETRAIN_DROP_PATH, 12)
    assert stream_seed(0, Purpose.NEIGHBOR_DRAW, 1) != stream_seed(0, Purpose.NEIGHBOR_DRAW, "1")
    assert stream_seed(1, Purpose.SPLIT, 2) != stream_seed(2, Purpose.SPLIT, 1)


def test_streams_are_stable_and_accept_numpy_integers():
    # pinned: a changed hash or purpose name would silently change every run's numbers
    assert stream_seed(0, Purpose.SPLIT) == 63746480273579243
    assert stream_seed(np.int64(0), "split") == stream_seed(0, Purpose.SPLIT)
    assert stream_seed(5, Purpose.BENCHMARK_NOISE, np.int64(9)) == stream_seed(5, Purpose.BENCHMARK_NOISE, 9)
    with pytest.raises(TypeError, match="integer"):
        stream_seed(1.5, Purpose.SPLIT)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sub-keys"):
        stream_seed(0, Purpose.SPLIT, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        stream_seed(0, "no_such_purpose")  # type: ignore[arg-type]
