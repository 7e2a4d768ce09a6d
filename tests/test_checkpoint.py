"""Checkpoint store: atomic round trip under weights_only, clear errors, explicit restart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasflat.checkpoint import (
    CheckpointError,
    CheckpointStore,
    numpy_rng_state,
    rng_state,
    set_numpy_rng_state,
    set_rng_state,
)


def test_round_trip_restores_state_and_rngs(tmp_path):
    store = CheckpointStore(tmp_path, "abc")
    rng = np.random.default_rng(3)
    rng.random(5)
    torch.manual_seed(7)
    payload = {"step": 3, "model": {"w": torch.randn(4)}, "rng": rng_state(), "np": numpy_rng_state(rng)}
    store.save("search", payload)
    expected_np, expected_torch = rng.random(3), torch.rand(3)
    loaded = store.load("search")
    set_rng_state(loaded["rng"])
    set_numpy_rng_state(rng, loaded["np"])
    assert loaded["step"] == 3 and torch.equal(loaded["model"]["w"], payload["model"]["w"])
    assert np.array_equal(rng.random(3), expected_np) and torch.equal(torch.rand(3), expected_torch)
    assert not list(tmp_path.glob("checkpoints/*.tmp"))


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    store = CheckpointStore(tmp_path, "abc")
    store.save("search", {"step": 1})
    store.path("search").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"corrupt.*restart=true"):
        store.load("search")


def test_other_config_is_refused(tmp_path):
    CheckpointStore(tmp_path, "abc").save("search", {"step": 1})
    with pytest.raises(CheckpointError, match="different configuration"):
        CheckpointStore(tmp_path, "xyz").load("search")


def test_checkpoint_with_code_objects_is_refused(tmp_path):
    store = CheckpointStore(tmp_path, "abc")
    store.dir.mkdir(parents=True)
    torch.save({"fingerprint": "abc", "obj": object()}, store.path("search"))  # not loadable weights-only
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        store.load("search")


def test_archive_moves_checkpoints_aside(tmp_path):
    store = CheckpointStore(tmp_path, "abc")
    store.save("search", {"step": 1})
    moved = store.archive()
    assert moved is not None and (moved / "search.pt").exists() and store.load("search") is None
    store.save("search", {"step": 2})
    assert store.archive().name == "checkpoints.old-1"
