"""The segment use case: masks for one image from point and/or box prompts, returned as data.

The CLI (``dualsam segment``), batch runs and a server call :func:`segment_image`; they only differ in how they
read prompts and write results. Importing this module imports no framework.

Shape legend: H, W image size; N points; K masks (1, or 3 with multimask).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sam_core.amg.scoring import masks_to_boxes
from sam_core.predictor import SamPredictor


@dataclass
class SegmentResult:
    """Masks for one set of prompts on one image.

    Attributes:
        masks: (K, H, W) bool masks at the image size.
        scores: (K,) predicted IoUs.
        low_res_logits: (K, L, L) mask logits (a later call's ``mask_input``).
        points: (N, 2) float xy prompts in image pixels.
        labels: (N,) int labels (1 foreground, 0 background).
        box: [x1, y1, x2, y2] in pixels, or None.
        areas: each mask's pixel count.
        boxes: each mask's tight XYXY box (inclusive pixel indices), None for an empty mask.
    """

    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray
    points: np.ndarray
    labels: np.ndarray
    box: list[float] | None
    areas: list[int]
    boxes: list[list[int] | None]

    @property
    def best(self) -> int:
        """The index of the mask with the highest predicted IoU."""
        return int(np.argmax(self.scores))

    def summary(self) -> dict[str, Any]:
        """JSON-ready prompts, scores, areas and boxes (no masks)."""
        return {
            "prompts": {"points": self.points.tolist(), "labels": self.labels.tolist(), "box": self.box},
            "scores": [float(s) for s in self.scores],
            "areas": self.areas,
            "boxes": self.boxes,
            "best": self.best,
        }


def mask_summary(masks: np.ndarray) -> tuple[list[int], list[list[int] | None]]:
    """Areas and tight XYXY boxes (inclusive pixel indices, None when empty) of (K, H, W) masks."""
    areas = [int(a) for a in np.count_nonzero(masks, axis=(1, 2))]  # any memory order, no flattening copy
    boxes = masks_to_boxes(masks).tolist()
    return areas, [box if area else None for box, area in zip(boxes, areas)]


def check_prompts(
    points: Any, labels: Any, box: Any, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, list[float] | None]:
    """Validates prompts in image pixels: finite, inside the image (0 <= x <= W, 0 <= y <= H), labels 0 or 1, and a
    box with x1 < x2, y1 < y2.

    Args:
        points: (N, 2) xy, or None.
        labels: (N,) labels, or None (all foreground).
        box: four numbers, or None.
        size: (H, W) of the image.

    Returns:
        (points (N, 2) float64, labels (N,) int64, box as a list or None).

    Raises:
        ValueError: naming ``points``, ``labels`` or ``box``; also when no prompt is given.
    """
    height, width = size
    points = np.zeros((0, 2)) if points is None else np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be a list of [x, y] pairs, got shape {points.shape}")
    labels = np.ones(len(points), np.int64) if labels is None else np.asarray(labels)
    if labels.shape != (len(points),) or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must hold one 1 (foreground) or 0 (background) per point, got {labels.tolist()}")
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= width and 0 <= y <= height):
            raise ValueError(f"points: {x:g},{y:g} lies outside the {width}x{height} image")
    if box is not None:
        box = [float(v) for v in np.asarray(box, dtype=np.float64).reshape(-1)]
        if len(box) != 4 or not all(map(math.isfinite, box)) or not (box[0] < box[2] and box[1] < box[3]):
            raise ValueError(f"box must be [x1, y1, x2, y2] with x1 < x2 and y1 < y2, got {box}")
        if not (0 <= box[0] and 0 <= box[1] and box[2] <= width and box[3] <= height):
            raise ValueError(f"box: {','.join(f'{v:g}' for v in box)} lies outside the {width}x{height} image")
    if not len(points) and box is None:
        raise ValueError("give at least one prompt: points and/or a box")
    return points, labels.astype(np.int64), box


def segment_image(
    predictor: SamPredictor,
    image: np.ndarray | None = None,
    *,
    points: Any = None,
    labels: Any = None,
    box: Any = None,
    multimask: bool = False,
    mask_input: np.ndarray | None = None,
) -> SegmentResult:
    """Segments one image from prompts in its pixels.

    Args:
        predictor: a SamPredictor of any backend; ``image`` is embedded into it unless None (then the image already
            set is used: the encode-once, prompt-often pattern of a server).
        image: (H, W, 3) uint8 RGB, or None.
        points: (N, 2) xy in image pixels, or None.
        labels: (N,) 1 / 0, or None for all foreground.
        box: [x1, y1, x2, y2] in image pixels, or None.
        multimask: SAM's three masks instead of one.
        mask_input: (1, L, L) low-res logits of an earlier call, or None.

    Raises:
        ValueError: bad prompts (naming the argument), or no image set.
    """
    if image is not None:
        predictor.set_image(image)
    if predictor.original_size is None:
        raise ValueError("image: no image given and none set on the predictor")
    points, labels, box = check_prompts(points, labels, box, predictor.original_size)
    masks, scores, low_res = predictor.predict(
        point_coords=points if len(points) else None, point_labels=labels if len(points) else None,
        box=None if box is None else np.array(box), mask_input=mask_input, multimask_output=multimask,
    )  # fmt: skip
    areas, boxes = mask_summary(masks)
    return SegmentResult(masks, scores, low_res, points, labels, box, areas, boxes)
