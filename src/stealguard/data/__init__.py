"""Datasets, splits and transforms. See :func:`load_dataset` for the names understood."""

from .core import ArrayDataset, DatasetBundle, Splits, make_splits
from .sources import DATASETS, channel_stats, load_dataset, resize_images
from .transforms import random_crop_flip, to_tensor, to_uint8

__all__ = [
    "ArrayDataset", "DatasetBundle", "Splits", "make_splits", "DATASETS", "load_dataset", "channel_stats",
    "resize_images", "random_crop_flip", "to_tensor", "to_uint8",
]


def load_splits(name: str, data_dir=None, seed: int = 0, image_size: int | None = None) -> Splits:
    """Load ``name`` and split it into defender / attacker / test (/ substitute) with ``seed``."""
    return make_splits(load_dataset(name, data_dir, image_size), seed=seed)
