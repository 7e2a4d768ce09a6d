"""'digits': a small REAL dataset that needs no download, for demos, smoke runs and CI.

scikit-learn ships the UCI handwritten digits (1,797 images, 8x8, grey levels 0..16). We scale them to uint8,
resize to 16x16 (bilinear, like ImageNet16's resolution, so NB201/DARTS networks run unchanged), replicate the grey
channel to RGB, and split them ONCE with a fixed-seed stratified permutation: 1,400 train / 397 test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import ImageDataset, ImageSplit, _triple
from .splits import stratified_test_indices

NUM_TRAIN, NUM_TEST, SPLIT_SEED, SIZE = 1400, 397, 0, 16

# Per-channel mean/std (/255) of the 1,400 train images as built below (all channels equal: grey replicated).
# Recomputed and compared in tests/test_data.py::test_digits_constants.
DIGITS_MEAN = (0.30572, 0.30572, 0.30572)
DIGITS_STD = (0.31875, 0.31875, 0.31875)  # population std over all train pixels


def build_digits() -> tuple[ImageSplit, ImageSplit]:
    """The fixed train/test splits as uint8 (N, 3, 16, 16)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    grey = torch.from_numpy(bunch.images.astype(np.float32) * (255.0 / 16.0)).unsqueeze(1)  # (N, 1, 8, 8)
    grey = F.interpolate(grey, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    images = grey.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    test_idx = stratified_test_indices(bunch.target, NUM_TEST, SPLIT_SEED)
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_idx] = True
    full = ImageSplit(images, labels)
    return full.subset(np.flatnonzero(~is_test)), full.subset(test_idx)


def load_digits_dataset(*, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> ImageDataset:
    """The 'digits' ImageDataset: 10 classes, 16x16, crop padding 2 (as ImageNet16)."""
    train, test = build_digits()
    return ImageDataset(
        name="digits",
        num_classes=10,
        train=train,
        test=test,
        mean=_triple(mean, DIGITS_MEAN, "mean"),
        std=_triple(std, DIGITS_STD, "std"),
        crop_padding=2,
        test_halves=None,
        source=f"scikit-learn load_digits (UCI optdigits), 16x16 bilinear, seed-{SPLIT_SEED} stratified split "
        f"{NUM_TRAIN}/{NUM_TEST}",
    )
