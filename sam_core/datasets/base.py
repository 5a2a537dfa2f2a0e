"""The item every training dataset yields, the dataset protocol, image reading and a seeded train/val split.

Shape legend: H x W image size, O objects (instances) in the image.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..image_files import open_oriented, read_rgb

__all__ = ["DatasetItem", "Subset", "TrainingDataset", "check_index", "open_oriented", "read_rgb", "split"]

#: Image file extensions the readers pick up (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class DatasetItem:
    """One training example: an image and its instance masks.

    Attributes:
        image: (H, W, 3) uint8 RGB, in display orientation (EXIF orientation applied).
        masks: (O, H, W) bool, one mask per instance (O may be 0).
        category_ids: (O,) int64 category of each instance (0 where the source has no categories).
        key: a name that identifies the item within its dataset (file name, image id, seed).
    """

    image: np.ndarray
    masks: np.ndarray
    category_ids: np.ndarray
    key: str

    def __post_init__(self) -> None:
        self.category_ids = np.asarray(self.category_ids, dtype=np.int64).reshape(-1)
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"{self.key}: image must be (H, W, 3) uint8, got {self.image.shape} {self.image.dtype}")
        if self.masks.dtype != np.bool_ or self.masks.ndim != 3 or self.masks.shape[1:] != self.image.shape[:2]:
            raise ValueError(
                f"{self.key}: masks must be (O, H, W) bool with (H, W) = {self.image.shape[:2]}, "
                f"got {self.masks.shape} {self.masks.dtype}"
            )
        if len(self.category_ids) != len(self.masks):
            raise ValueError(f"{self.key}: {len(self.masks)} masks but {len(self.category_ids)} category ids")


@runtime_checkable
class TrainingDataset(Protocol):
    """Random access to DatasetItems: ``len(dataset)`` and ``dataset[i]`` for ``0 <= i < len(dataset)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> DatasetItem: ...


def check_index(index: int, length: int) -> int:
    """``index`` as a non-negative position (negative counts from the end); IndexError outside the range."""
    position = int(index) + length if int(index) < 0 else int(index)
    if not 0 <= position < length:
        raise IndexError(f"index {index} out of range for a dataset of {length} items")
    return position


class Subset:
    """The items of ``dataset`` at ``indices``, in that order (a training or validation part of ``split``).

    Attributes:
        dataset: the underlying dataset (its other attributes, e.g. COCO ``categories``, stay reachable there).
        indices: positions in ``dataset``.
    """

    def __init__(self, dataset: TrainingDataset, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> DatasetItem:
        return self.dataset[self.indices[check_index(index, len(self.indices))]]


def split(dataset: Sized | int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded random train/validation split of the item indices.

    Args:
        dataset: a dataset (anything with ``len``) or its length.
        val_fraction: share of items for validation, in [0, 1); ``round(val_fraction * n)`` items, at least one
            when the fraction is positive and the dataset has two or more items.
        seed: the same seed and length always give the same split.

    Returns:
        (train_indices, val_indices): disjoint, sorted, together ``range(n)``.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    length = dataset if isinstance(dataset, int) else len(dataset)
    count = int(round(val_fraction * length))
    if val_fraction > 0 and length >= 2:
        count = min(max(count, 1), length - 1)
    order = np.random.default_rng(seed).permutation(length)
    return sorted(int(i) for i in order[count:]), sorted(int(i) for i in order[:count])
