"""Each search method's official train/val split is its default; an explicit dataset.split_method wins; the split
used (method, portion, seed or index file, and what chose it) is what the run records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

import nasflat.cli  # registers the run-id resolver
import nasflat.data
from nasflat.context import DataSpec, official_split
from nasflat.data import ImageDataset, ImageSplit, read_split_file
from nasflat.rng import Purpose, stream_seed

OFFICIAL = {
    "darts": "first",  # quark0 train_search.py: indices[:split] / indices[split:]
    "darts_2nd": "first",
    "a2m": "first",  # AsquaredM: first 25k / last 25k
    "na_darts": "first",
    "genas": "nb201",  # clovaai/GeNAS get_nas_search_loaders: cifar-split.txt on CIFAR-10
    "spos": "nb201",
    "rs": "nb201",  # AutoDL's NB201 search protocol
    "rea": "nb201",
    "na_rs": "nb201",
    "na_rea": "nb201",
}


def composed(*overrides: str):
    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        return compose("search", overrides=list(overrides))


@pytest.mark.parametrize("algo", sorted(OFFICIAL))
def test_every_algorithm_declares_its_official_split(algo):
    cfg = composed(f"algo={algo}", "dataset=cifar10", "dataset.split_dir=SPLITS")
    spec = instantiate(cfg.dataset)
    assert spec.split_method is None  # the dataset default defers to the method
    chosen = spec.with_default_split(official_split(instantiate(cfg.algo)))
    assert chosen.split_method == OFFICIAL[algo]
    assert chosen.split_chosen_by == f"the search method's official split ({OFFICIAL[algo]})"


def test_explicit_split_wins_and_nb201_falls_back_where_unavailable():
    explicit = instantiate(composed("algo=darts", "dataset.split_method=random").dataset)
    assert explicit.with_default_split("first").split_method == "random"
    assert explicit.with_default_split("first").split_chosen_by == "dataset.split_method"
    no_files = DataSpec(name="cifar10").with_default_split("nb201")
    assert no_files.split_method == "random" and "no dataset.split_dir" in no_files.split_chosen_by
    c100 = DataSpec(name="cifar100", split_dir="SPLITS").with_default_split("nb201")
    assert c100.split_method == "random" and "cifar100" in c100.split_chosen_by
    assert DataSpec(name="cifar10", split_dir="SPLITS").with_default_split("nb201").split_method == "nb201"
    assert official_split(None) == "random"  # `nasflat retrain`: no search method


@pytest.fixture
def fake_cifar10(monkeypatch):
    """50,000 one-pixel training images whose label is their index, so the recorded split can be checked."""

    def load(name, root, **_):
        train = ImageSplit(torch.zeros(50_000, 3, 1, 1, dtype=torch.uint8), torch.arange(50_000))
        test = ImageSplit(torch.zeros(10, 3, 1, 1, dtype=torch.uint8), torch.arange(10))
        return ImageDataset(name, 10, train, test, (0.5,) * 3, (0.25,) * 3, 0, None, "fake")

    monkeypatch.setattr(nasflat.data, "load_dataset", load)


def test_the_split_used_is_described_for_results(fake_cifar10, nb201_splits: Path):
    official = DataSpec(name="cifar10", split_dir=str(nb201_splits)).with_default_split("nb201").load(seed=3)
    idx = read_split_file(nb201_splits / "cifar-split.txt")
    assert np.array_equal(official.splits["search_train"].labels.numpy(), idx["train"])
    assert official.split == {
        "method": "nb201",
        "portion": None,
        "seed": None,
        "file": "cifar-split.txt",
        "chosen_by": "the search method's official split (nb201)",
    }
    first = DataSpec(name="cifar10").with_default_split("first").load(seed=3)
    assert torch.equal(first.splits["search_val"].labels, torch.arange(25_000, 50_000))
    assert first.split == {
        "method": "first",
        "portion": 0.5,
        "seed": None,
        "file": None,
        "chosen_by": "the search method's official split (first)",
    }
    rand = DataSpec(name="cifar10", split_method="random", split_portion=0.4).load(seed=3)
    assert rand.split["seed"] == stream_seed(3, Purpose.SPLIT) and rand.split["portion"] == 0.4
    assert len(rand.splits["search_train"]) == 20_000 and rand.split_method == "random"
