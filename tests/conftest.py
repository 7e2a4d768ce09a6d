"""Shared fixtures: the read-only reference data in ../shared (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NASFLAT_SHARED", REPO.parent / "shared"))

os.environ.setdefault("WANDB_MODE", "disabled")
torch.set_num_threads(1)  # tiny models: threading overhead dominates, and tests must not oversubscribe


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the test saying what is missing and why."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"reference data {p} is absent (set NASFLAT_SHARED to the shared/ folder to run this test)")
    return p


@pytest.fixture(scope="session")
def nb201_csv() -> Path:
    return shared_path("data", "nb201", "nb201_all_archs_200ep.csv")


@pytest.fixture(scope="session")
def nb201_splits() -> Path:
    return shared_path("data", "nb201", "splits")


@pytest.fixture(scope="session")
def imagenet16_fixture() -> Path:
    return shared_path("data", "imagenet16_fixture")


@pytest.fixture(scope="session")
def darts_genotypes() -> Path:
    return shared_path("data", "darts", "published_genotypes.json")


@pytest.fixture(scope="session")
def cifar10_pack() -> Path:
    return shared_path("data", "cifar10")
