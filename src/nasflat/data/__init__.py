"""Datasets held as uint8 tensors (built-in or your own), NB201/DARTS search splits, the device-resident loader."""

from .check import DataReport, FileStatus, check_dataset
from .custom import channel_statistics, dataset_label
from .datasets import NORMALIZATION, ImageDataset, ImageSplit, ReadOptions, load_dataset, read_split_file
from .digits import DIGITS_MEAN, DIGITS_STD
from .identity import dataset_identity
from .loader import DeviceLoader, crop_flip, cutout_mask, fixed_batches
from .sources import CUSTOM_DATASETS, DATASET_NAMES, SOURCES, DatasetFileError, DatasetNotFoundError
from .splits import SPLIT_METHODS, SearchSplit, search_split
from .unpickle import RestrictedUnpickler, UnsafePickleError, load_pickle

__all__ = [
    "CUSTOM_DATASETS",
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
    "ReadOptions",
    "RestrictedUnpickler",
    "SearchSplit",
    "UnsafePickleError",
    "channel_statistics",
    "check_dataset",
    "crop_flip",
    "cutout_mask",
    "dataset_identity",
    "dataset_label",
    "fixed_batches",
    "load_dataset",
    "load_pickle",
    "read_split_file",
    "search_split",
]
