"""Training datasets: an image and its instance masks per item, from COCO files, mask folders or synthetic scenes.

Every reader yields ``DatasetItem``s (numpy only) through ``len`` and ``[i]``; ``open_dataset`` picks one by path.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import DatasetItem, Subset, TrainingDataset, read_rgb, split
from .coco import CocoInstances, decode_segmentation
from .folder import FolderInstances, detect_layout
from .synthetic import SyntheticInstances

SYNTHETIC_PREFIX = "synthetic:"


def open_dataset(
    path: str | os.PathLike[str], images_root: str | os.PathLike[str] | None = None
) -> CocoInstances | FolderInstances | SyntheticInstances:
    """Opens a training dataset by what ``path`` names.

    Args:
        path: a ``.json`` file (COCO instances), a folder (the layouts of ``sam_core.datasets.folder``), or
            ``"synthetic:SEED:COUNT"`` (COUNT seeded synthetic scenes).
        images_root: for COCO only, the folder image file names are relative to (default: the json's folder).

    Raises:
        ValueError: an unknown kind of path, a malformed synthetic spec, or images_root given for a non-COCO source.
        FileNotFoundError: a path that does not exist.
    """
    text = os.fspath(path)
    if text.startswith(SYNTHETIC_PREFIX):
        parts = text[len(SYNTHETIC_PREFIX) :].split(":")
        if len(parts) != 2 or not all(p.strip().lstrip("-").isdigit() for p in parts):
            raise ValueError(f"expected synthetic:SEED:COUNT with two integers, got {text!r}")
        source: CocoInstances | FolderInstances | SyntheticInstances = SyntheticInstances(int(parts[0]), int(parts[1]))
    elif not Path(text).exists():
        raise FileNotFoundError(f"dataset {text} does not exist")
    elif Path(text).is_dir():
        source = FolderInstances(text)
    elif text.lower().endswith(".json"):
        return CocoInstances(text, images_root)
    else:
        raise ValueError(f"dataset {text}: expected a COCO .json file, a folder, or synthetic:SEED:COUNT")
    if images_root is not None:
        raise ValueError(f"images_root applies to COCO .json datasets only, not {text}")
    return source


__all__ = [
    "CocoInstances",
    "DatasetItem",
    "Subset",
    "FolderInstances",
    "SyntheticInstances",
    "TrainingDataset",
    "decode_segmentation",
    "detect_layout",
    "open_dataset",
    "read_rgb",
    "split",
]
