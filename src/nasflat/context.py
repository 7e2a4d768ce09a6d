"""What a phase may use: the space, the data splits, the hardware, the seed and the progress sink.

Algorithms and evaluators receive one :class:`SearchContext` instead of a config object, so library code stays
free of Hydra and tests can build a context by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from nasflat import distributed
from nasflat.hardware import Hardware, rng_fork
from nasflat.rng import Purpose, stream_seed
from nasflat.spaces.base import Arch, SearchSpace
from nasflat.tracking import Reporter

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from nasflat.data import ReadOptions


@dataclass(frozen=True)
class DataSpec:
    """Which dataset, where, and how the search-time train/val halves are made.

    ``split_method=None`` means "the search method's official split" (:func:`official_split`), resolved by
    :meth:`with_default_split` before loading; an explicit ``random`` / ``first`` / ``nb201`` always wins.
    """

    name: str
    root: str | None = "data"  # None only as the unset default of dataset=image_folder (a config error)
    download: bool = False
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    split_method: Literal["random", "first", "nb201"] | None = None  # None: the method's official split
    split_portion: float = 0.5
    split_dir: str | None = None  # NB201 split files (cifar-split.txt, ...)
    max_train: int | None = None  # debug: keep only the first N training / test images
    max_test: int | None = None
    resolution: int | None = None  # box-downsample every image to this size (the collapse_cpu protocol: 16)
    path: str | None = None  # dataset=array: the .npz file
    num_classes: int | None = None  # None: from the data; a number is checked against it
    test_portion: float = 0.2  # image_folder without train/ and test/: the share of each class held out as test
    split_seed: int = 0  # ... drawn with this seed
    split_chosen_by: str = "dataset.split_method"  # set by with_default_split; recorded in results.json

    @property
    def label(self) -> str:
        """The dataset's name for results: ``cifar10``..., or ``image_folder:<folder>`` / ``array:<file>``."""
        from nasflat.data import CUSTOM_DATASETS, dataset_label

        return dataset_label(self.name, self.root, self.path) if self.name in CUSTOM_DATASETS else self.name

    def read_options(self) -> ReadOptions:
        """How ``load_dataset`` / ``check_dataset`` read the files (a user's dataset's keys; see ReadOptions)."""
        from nasflat.data import ReadOptions

        return ReadOptions(self.path, self.num_classes, self.test_portion, self.split_seed, self.resolution)

    def with_default_split(self, default: str) -> DataSpec:
        """This spec with ``split_method`` set: the user's choice if given, else the method's ``default``.

        ``default="nb201"`` falls back to ``random`` where the benchmark's split file cannot be used (no
        ``split_dir``, or a dataset other than CIFAR-10), as the official code's own split file is not available.
        """
        from nasflat.data.splits import NB201_TRAIN_SPLIT_FILES

        if self.split_method is not None:
            return self
        method, why = default, f"the search method's official split ({default})"
        if default == "nb201" and (self.split_dir is None or self.name not in NB201_TRAIN_SPLIT_FILES):
            method = "random"
            why += f", unavailable ({'no dataset.split_dir' if self.split_dir is None else self.name}): random"
        return replace(self, split_method=method, split_chosen_by=why)

    def load(self, seed: int) -> DataBundle:
        """Load the dataset and make the search halves; a random split is seeded from the run seed's SPLIT stream."""
        from nasflat.data import load_dataset, search_split

        ds = load_dataset(
            self.name,
            self.root,
            download=self.download,
            mean=self.mean,
            std=self.std,
            split_dir=self.split_dir,
            options=self.read_options(),
        )
        split = search_split(
            ds.train,
            seed=stream_seed(seed, Purpose.SPLIT),
            portion=self.split_portion,
            method=self.split_method or "random",
            split_dir=self.split_dir,
            dataset_name=self.name,
        )
        s_train, s_val = split
        if self.name == "array" and split.method == "first":  # the user's order is kept: it may separate classes
            from nasflat.data.custom import check_first_halves

            check_first_halves(self.path or "", s_train.labels, s_val.labels)
        train, test = ds.train, ds.test
        if self.max_train is not None:  # shrink after splitting, so index-file splits stay valid
            train = _head(train, self.max_train)
            s_train = _head(s_train, round(self.max_train * self.split_portion))
            s_val = _head(s_val, self.max_train - round(self.max_train * self.split_portion))
        if self.max_test is not None:
            test = _head(test, self.max_test)
        splits = {"train": train, "test": test, "search_train": s_train, "search_val": s_val}
        if ds.test_halves and self.max_test is None:
            splits.update({f"test_{k}": v for k, v in ds.test_halves.items()})
        padding = ds.crop_padding
        if self.resolution is not None:  # crop padding scales with the image (CIFAR 4 at 32 -> 2 at 16)
            padding = ds.crop_padding * self.resolution // ds.image_size
            splits = {k: v.downsampled(self.resolution) for k, v in splits.items()}
        return DataBundle(
            name=ds.name,
            num_classes=ds.num_classes,
            mean=ds.mean,
            std=ds.std,
            crop_padding=padding,
            splits=splits,
            source=ds.source,
            split_method=split.method,
            split=self._describe_split(split),
        )

    def _describe_split(self, split: Any) -> dict[str, Any]:
        """What results.json records about the search halves: method, portion, seed or index file, and why."""
        return {
            "method": split.method,
            "portion": self.split_portion if split.method != "nb201" else None,
            "seed": split.seed,
            "file": Path(split.source).name if split.source else None,
            "chosen_by": self.split_chosen_by,
        }


def official_split(factory: Any) -> str:
    """The official search split of the algorithm a (partial) factory builds: its ``official_split`` attribute."""
    return str(getattr(getattr(factory, "func", factory), "official_split", "random"))


def _note_no_benchmark(dataset: str) -> None:
    """Say once (in the run's log, cli.log, and on the console) that the NB201 numbers a run records are not this
    dataset's (the table has none for it)."""
    from nasflat.spaces.nb201.codec import DATASETS

    if dataset not in DATASETS:
        log.warning(
            "dataset %s has no NB201 table accuracies: results.json 'benchmark' holds the architecture's NB201 "
            "numbers on %s, not on this dataset",
            dataset,
            ", ".join(DATASETS),
        )


def _head(split: Any, n: int) -> Any:
    return split.subset(torch.arange(min(n, len(split))))


@dataclass
class DataBundle:
    name: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_padding: int
    splits: dict[str, Any]
    source: str
    split_method: str
    split: dict[str, Any] = field(default_factory=dict)  # DataSpec._describe_split

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}


@dataclass
class SearchContext:
    """Everything a phase needs; ``loader`` gives device-resident loaders with their own generators."""

    space: SearchSpace
    seed: int
    hardware: Hardware = field(default_factory=Hardware)
    data_spec: DataSpec | None = None
    table: Any = None  # NB201Table when configured
    reporter: Reporter = field(default_factory=Reporter)
    supernet_options: dict[str, Any] = field(default_factory=dict)
    _data: DataBundle | None = None

    @property
    def data(self) -> DataBundle:
        """The dataset, loaded on first use (a benchmark-only search never touches image data)."""
        if self._data is None:
            if self.data_spec is None:
                raise ValueError("this phase needs a dataset, but the context was built without one")
            self._data = self.data_spec.load(self.seed)
            if self.table is not None:
                _note_no_benchmark(self._data.name)
        return self._data

    @property
    def data_loaded(self) -> bool:
        return self._data is not None

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    def loader(
        self,
        split: str,
        batch_size: int,
        *,
        train: bool,
        seed: int | None = None,
        cutout: int = 0,
        shard: bool | None = None,
        drop_last: bool | None = None,
    ) -> Any:
        """A loader over ``split``; training loaders shuffle + augment with a generator seeded by ``seed``.

        ``seed`` comes from :func:`nasflat.rng.stream_seed` (a training loader needs one; evaluation loaders
        draw nothing). ``drop_last`` defaults to ``train``; an augmented evaluation that must count every image
        once passes ``train=True, drop_last=False``.
        ``batch_size`` is global: under torch.distributed each rank of a sharded loader (default: training
        loaders) takes a disjoint strided slice of one shared permutation and ``batch_size / world_size`` images
        per step. Unsharded loaders (evaluation, and per-candidate scoring with ``shard=False``) give every rank
        the same batches, so results agree without a collective.
        """
        from nasflat.data import DeviceLoader

        if split not in self.data.splits:
            raise ValueError(f"no data split {split!r} (have {sorted(self.data.splits)})")
        if train and seed is None:
            raise ValueError(f"a training loader over {split!r} needs a seed (nasflat.rng.stream_seed)")
        world = distributed.world_size() if (train if shard is None else shard) else 1
        if batch_size % world:
            raise ValueError(f"batch size {batch_size} is not divisible by the {world} processes; use a multiple")
        g = torch.Generator()
        if seed is not None:
            g.manual_seed(seed)
        return DeviceLoader(
            self.data.splits[split],
            batch_size=batch_size // world,
            rank=distributed.rank() if world > 1 else 0,
            world_size=world,
            device=self.hardware.torch_device,
            mean=self.data.mean,
            std=self.data.std,
            train_augment=train,
            crop_padding=self.data.crop_padding,
            cutout=cutout,
            shuffle=train,
            drop_last=train if drop_last is None else drop_last,
            generator=g,
            channels_last=self.hardware.channels_last,
            dtype=self.hardware.torch_dtype,
        )

    def stream(self, purpose: Purpose, *keys: int | str) -> int:
        """The seed of ``purpose``'s random stream in this run (:func:`nasflat.rng.stream_seed`)."""
        return stream_seed(self.seed, purpose, *keys)

    def build_supernet(self, purpose: Purpose = Purpose.SUPERNET_INIT, **options: Any) -> nn.Module:
        """The space's supernet on the device, initialised from ``purpose``'s stream (independent of call order)."""
        with rng_fork(self.stream(purpose)):
            net = self.space.supernet(self.num_classes, **{**self.supernet_options, **options})
        return self.hardware.prepare(distributed.sync_batchnorm(net, self.hardware.device))

    def build_network(self, arch: Arch, purpose: Purpose = Purpose.NETWORK_INIT, **options: Any) -> nn.Module:
        """The standalone network of ``arch`` on the device, initialised from ``purpose``'s stream."""
        with rng_fork(self.stream(purpose)):
            net = self.space.network(arch, self.num_classes, **options)
        return self.hardware.prepare(distributed.sync_batchnorm(net, self.hardware.device))
