"""COCO instance annotations as a training dataset.

Segmentations are polygons, uncompressed RLE (``counts`` a list) or compressed RLE (``counts`` a string), decoded
with ``pycocotools.mask`` the way ``COCO.annToMask`` does, at the height and width the file gives for the image.
Crowd annotations (``iscrowd: 1``) are skipped by default and counted; images left without annotations are skipped.
Items come in image-id order, their instances in annotation-id order.

Shape legend: H x W image size, O instances.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from .base import DatasetItem, check_index, read_rgb


def decode_segmentation(segmentation: list | dict, height: int, width: int) -> np.ndarray:
    """One COCO segmentation as an (H, W) bool mask (pycocotools' decoding, as ``COCO.annToMask``).

    Args:
        segmentation: a list of polygons ``[[x0, y0, x1, y1, ...], ...]``, or an RLE dict whose ``counts`` is a
            list (uncompressed) or a string (compressed).
        height: image height H.
        width: image width W.
    """
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle).astype(bool)


class CocoInstances:
    """Images and instance masks from a COCO annotation file.

    Args:
        annotation_file: the COCO ``instances_*.json``.
        images_root: the folder that image ``file_name`` entries are relative to (default: the annotation file's
            folder).
        category_ids: keep only annotations of these categories (default: all).
        skip_crowd: drop ``iscrowd`` annotations (their count is in ``skipped["crowd"]``).

    Attributes:
        skipped: counts of what was left out: ``crowd`` and ``no_segmentation`` annotations, and
            ``images_without_annotations``.
        categories: category id -> name, from the file.
    """

    def __init__(
        self,
        annotation_file: str | os.PathLike[str],
        images_root: str | os.PathLike[str] | None = None,
        *,
        category_ids: list[int] | None = None,
        skip_crowd: bool = True,
    ) -> None:
        self.annotation_file = Path(annotation_file)
        self.images_root = Path(images_root) if images_root is not None else self.annotation_file.parent
        with open(self.annotation_file, encoding="utf-8") as file:
            data = json.load(file)
        for field in ("images", "annotations"):
            if not isinstance(data.get(field), list):
                raise ValueError(f"{self.annotation_file} is not a COCO instances file: no '{field}' list")
        self.categories = {int(c["id"]): str(c.get("name", c["id"])) for c in data.get("categories", [])}
        wanted = None if category_ids is None else {int(c) for c in category_ids}
        self.skipped = {"crowd": 0, "no_segmentation": 0, "images_without_annotations": 0}
        by_image: dict[int, list[dict[str, Any]]] = {}
        for annotation in sorted(data["annotations"], key=lambda a: a["id"]):
            if wanted is not None and int(annotation["category_id"]) not in wanted:
                continue
            if skip_crowd and annotation.get("iscrowd", 0):
                self.skipped["crowd"] += 1
                continue
            if not annotation.get("segmentation"):
                self.skipped["no_segmentation"] += 1
                continue
            by_image.setdefault(int(annotation["image_id"]), []).append(annotation)
        self._images: list[dict[str, Any]] = []
        self._annotations: list[list[dict[str, Any]]] = []
        for image in sorted(data["images"], key=lambda i: i["id"]):
            annotations = by_image.get(int(image["id"]))
            if not annotations:
                self.skipped["images_without_annotations"] += 1
                continue
            self._images.append(image)
            self._annotations.append(annotations)

    def __len__(self) -> int:
        return len(self._images)

    def image_path(self, index: int) -> Path:
        """The image file of item ``index``."""
        return self.images_root / self._images[check_index(index, len(self))]["file_name"]

    def __getitem__(self, index: int) -> DatasetItem:
        """Item ``index``: the image and its (O, H, W) masks; ValueError when the image size is not the file's."""
        index = check_index(index, len(self))
        info, annotations = self._images[index], self._annotations[index]
        height, width = int(info["height"]), int(info["width"])
        path = self.image_path(index)
        image = read_rgb(path)
        if image.shape[:2] != (height, width):
            raise ValueError(
                f"image {path} is {image.shape[1]}x{image.shape[0]} (display orientation) but "
                f"{self.annotation_file.name} gives {width}x{height}"
            )
        masks = np.stack([decode_segmentation(a["segmentation"], height, width) for a in annotations])
        categories = np.array([int(a["category_id"]) for a in annotations], dtype=np.int64)
        return DatasetItem(image=image, masks=masks, category_ids=categories, key=str(info["file_name"]))
