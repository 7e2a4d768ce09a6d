"""A dataset from outside nasflat: any source you can turn into uint8 arrays, handed to nasflat's ``array`` reader.

``Blobs`` draws a synthetic image set (class k: a bright square at the k-th place on the diagonal of a noisy image),
writes it once as the ``.npz`` that ``dataset=array`` reads, and lets that reader do the rest (checks, normalisation,
search halves, ``dataset.resolution``), so the run behaves exactly as with ``dataset=array dataset.path=FILE``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nasflat.context import DataBundle, DataSpec


@dataclass(frozen=True)
class Blobs(DataSpec):
    """``classes`` classes of ``size``x``size`` RGB images; ``images`` per class for training, a quarter for test."""

    name: str = "blobs"
    classes: int = 4
    images: int = 64
    size: int = 16
    noise: float = 30.0
    data_seed: int = 0  # the data is fixed: it does not change with the run seed

    def npz(self) -> Path:
        """Where the arrays are written: ``root`` (default: the system temp directory), one file per setting."""
        name = f"blobs-{self.classes}-{self.images}-{self.size}-{self.noise}-{self.data_seed}.npz"
        return Path(self.root or tempfile.gettempdir()) / name

    def load(self, seed: int) -> DataBundle:
        file = self.npz()
        if not file.exists():
            file.parent.mkdir(parents=True, exist_ok=True)
            self.write(file)  # to a temporary file, then os.replace: concurrent runs never read half a file
        return DataSpec.load(replace(self, name="array", path=str(file)), seed)  # nasflat's array reader

    def write(self, file: Path) -> None:
        """Write the arrays to a temporary file next to ``file``, then rename it: runs sharing the directory (the
        system temp directory by default) never read a half-written file, and a crash leaves none behind."""
        with tempfile.NamedTemporaryFile(dir=file.parent, prefix=f".{file.stem}-", suffix=".npz", delete=False) as f:
            partial = Path(f.name)
            try:
                np.savez(f, **self.arrays())
            except BaseException:
                f.close()
                partial.unlink()
                raise
        os.replace(partial, file)

    def arrays(self) -> dict[str, np.ndarray]:
        """uint8 (N, H, W, 3) images and integer labels, as numpy.savez writes them for ``dataset=array``."""
        rng, side = np.random.default_rng(self.data_seed), self.size // self.classes
        out = {}
        for split, per_class in (("train", self.images), ("test", max(self.images // 4, 1))):
            y = np.tile(np.arange(self.classes), per_class)  # classes interleaved: any first part holds them all
            x = rng.normal(60.0, self.noise, size=(len(y), self.size, self.size, 3))
            for i, k in enumerate(y):  # class k: a bright square at the k-th place on the diagonal
                x[i, k * side : (k + 1) * side, k * side : (k + 1) * side] += 150.0
            out[f"x_{split}"], out[f"y_{split}"] = np.clip(x, 0, 255).astype(np.uint8), y
        return out
