"""Where each dataset's files live, their official md5 sums and how to obtain them (for loading and `data check`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

DATASET_NAMES = ("cifar10", "cifar100", "imagenet16_120", "digits")
CUSTOM_DATASETS = ("image_folder", "array")  # a user's own images (data/custom.py)
ENV_VAR = "NASFLAT_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """Dataset files are missing; the message names the directory looked in and how to get the files."""


class DatasetFileError(ValueError):
    """A dataset file exists but cannot be used (truncated, not a pickle, wrong keys, shapes, dtypes or labels).

    ``problem`` says what is wrong, ``fix`` what to do; the message names the file so the user knows which one to
    replace (a traceback from inside pickle does not).
    """

    def __init__(self, path: str | Path, problem: str, fix: str | None = None) -> None:
        self.path, self.problem = Path(path), problem
        self.fix = fix or "Replace it with a fresh copy of the dataset file (re-download or re-create it)."
        super().__init__(f"{self.path} {problem}. {self.fix}")

    def with_fix(self, fix: str) -> DatasetFileError:
        """The same problem with dataset-specific advice (the unpickler does not know which dataset it reads)."""
        return DatasetFileError(self.path, self.problem, fix)


@dataclass(frozen=True)
class SourceSpec:
    """Expected files of one on-disk dataset (name -> official md5) and where they come from."""

    name: str
    subdir: str
    files: dict[str, str]
    url: str | None = None
    archive_md5: str | None = None
    root_fallback: bool = False  # ImageNet16: also accept the files directly in root
    label_key: str = "labels"  # what each pickle holds: {"data": uint8 (N, 3*size*size), label_key: N ints}
    image_size: int = 32
    label_range: tuple[int, int] = (0, 9)  # inclusive; ImageNet16 files hold all 1000 classes, 1-based

    def directory(self, root: str | Path) -> Path:
        """The directory the files are read from: root/subdir, or root itself when it holds them (and is allowed)."""
        root = Path(root).expanduser()
        primary = root / self.subdir
        in_primary = any((primary / f).exists() for f in self.files)
        if self.root_fallback and not in_primary and any((root / f).exists() for f in self.files):
            return root
        return primary

    def missing(self, root: str | Path) -> list[str]:
        d = self.directory(root)
        return [f for f in self.files if not (d / f).is_file()]

    def instructions(self, root: str | Path) -> str:
        """Manual steps to obtain the files, with the exact paths for this root."""
        root = Path(root).expanduser().resolve()
        d = self.directory(root).resolve()
        point = f"or point the data root at an existing copy (dataset.root=<dir> or the environment variable {ENV_VAR})"
        if self.url is None:  # ImageNet16
            return (
                f"ImageNet16-120 cannot be downloaded automatically. Get the 'ImageNet16' folder "
                f"({', '.join(self.files)}) from the NAS-Bench-201 authors' ImageNet16 download linked in the "
                "D-X-Y/AutoDL-Projects README (NAS-Bench-201 docs), or the 'Downsampled ImageNet 16x16' files from "
                f"image-net.org (Chrabaszcz et al. 2017), and place them in {d}; {point}."
            )
        archive = self.url.rsplit("/", 1)[-1]
        return (
            f"Either pass dataset.download=true with internet access (downloads {self.url}, md5 {self.archive_md5}, "
            f"and extracts it into {root}); or fetch {self.url} yourself and extract it into {root} "
            f"(`tar -xzf {archive} -C {root}`) so that {d / next(iter(self.files))} exists; {point}."
        )

    def repair(self, path: str | Path) -> str:
        """What to do about one damaged file of this dataset."""
        check = f"`nasflat data check dataset={self.name}` lists every damaged file"
        if self.url is None:
            return f"Replace it with a fresh copy from the ImageNet16 download ({check} and where to get them)."
        archive = self.url.rsplit("/", 1)[-1]
        return (
            f"Delete {Path(path).parent} and rerun with dataset.download=true, or extract {archive} ({self.url}) "
            f"again yourself; {check}."
        )

    def not_found(self, root: str | Path, extra: str = "") -> DatasetNotFoundError:
        d = self.directory(root).resolve()
        return DatasetNotFoundError(
            f"{self.name} not found: looked in {d} for {', '.join(self.files)}; missing: "
            f"{', '.join(self.missing(root))}.{extra} {self.instructions(root)}"
        )


SOURCES: dict[str, SourceSpec] = {
    "cifar10": SourceSpec(
        name="cifar10",
        subdir="cifar-10-batches-py",
        files={
            "data_batch_1": "c99cafc152244af753f735de768cd75f",
            "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "test_batch": "40351d587109b95175f43aff81a1287e",
        },
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        archive_md5="c58f30108f718f92721af3b95e74349a",
    ),
    "cifar100": SourceSpec(
        name="cifar100",
        subdir="cifar-100-python",
        files={"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"},
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        archive_md5="eb9058c3a382ffc7106e4002c42a8d85",
        label_key="fine_labels",
        label_range=(0, 99),
    ),
    # md5 sums as listed by AutoDL-Projects' ImageNet16 dataset class
    "imagenet16_120": SourceSpec(
        name="imagenet16_120",
        subdir="ImageNet16",
        files={
            "train_data_batch_1": "27846dcaa50de8e21a7d1a35f30f0e91",
            "train_data_batch_2": "c7254a054e0e795c69120a5727050e3f",
            "train_data_batch_3": "4333d3df2e5ffb114b05d2ffc19b1e87",
            "train_data_batch_4": "1620cdf193304f4a92677b695d70d10f",
            "train_data_batch_5": "348b3c2fdbb3940c4e9e834affd3b18d",
            "train_data_batch_6": "6e765307c242a1b3d7d5ef9139b48945",
            "train_data_batch_7": "564926d8cbf8fc4818ba23d2faac7564",
            "train_data_batch_8": "f4755871f718ccb653440b9dd0ebac66",
            "train_data_batch_9": "bb6dd660c38c58552125b1a92f86b5d4",
            "train_data_batch_10": "8f03f34ac4b42271a294f91bf480f29b",
            "val_data": "3410e3017fdaefba8d5073aaa65e4bd6",
        },
        root_fallback=True,
        image_size=16,
        label_range=(1, 1000),
    ),
}


def md5sum(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def md5_mismatches(spec: SourceSpec, directory: Path) -> list[str]:
    """Files in `directory` whose md5 differs from the official one."""
    return [f for f, md5 in spec.files.items() if md5sum(directory / f) != md5]
