"""Datasets held as uint8 tensors, NB201/DARTS search splits, and the device-resident loader."""

from .check import DataReport, FileStatus, check_dataset
from .datasets import NORMALIZATION, ImageDataset, ImageSplit, load_dataset, read_split_file
from .digits import DIGITS_MEAN, DIGITS_STD
from .loader import DeviceLoader, crop_flip, cutout_mask, fixed_batches
from .sources import DATASET_NAMES, SOURCES, DatasetFileError, DatasetNotFoundError
from .splits import SPLIT_METHODS, SearchSplit, search_split
from .unpickle import RestrictedUnpickler, UnsafePickleError, load_pickle

__all__ = [
    "DATASET_NAMES",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "NORMALIZATION",
    "SOURCES",
    "SPLIT_METHODS",
    "DataReport",
    "DatasetFileError",
    "DatasetNotFoundError",
    "DeviceLoader",
    "FileStatus",
    "ImageDataset",
    "ImageSplit",
    "RestrictedUnpickler",
    "SearchSplit",
    "UnsafePickleError",
    "check_dataset",
    "crop_flip",
    "cutout_mask",
    "fixed_batches",
    "load_dataset",
    "load_pickle",
    "read_split_file",
    "search_split",
]
