"""Greedy non-maximum suppression of boxes, in numpy.

Matches torchvision.ops.batched_nms: boxes are visited by descending score (ties keep input order), a box is
dropped when its IoU with a kept box of the same category exceeds the threshold, areas are (x1-x0)*(y1-y0),
and the arithmetic is float32.

Shape legend: M boxes.
"""

from __future__ import annotations

import numpy as np


def box_iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU (float32) of one XYXY ``box`` (4,) against ``boxes`` (M, 4); 0 where the union is empty."""
    box = np.asarray(box, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    width = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), np.float32(0))
    height = np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), np.float32(0))
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
    return np.nan_to_num(iou, nan=0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, by descending score.

    Args:
        boxes: (M, 4) XYXY.
        scores: (M,).
        iou_threshold: suppress boxes whose IoU with a kept box is strictly greater.

    Returns:
        (K,) int64 indices into ``boxes``, highest score first.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"boxes ({len(boxes)}) and scores ({len(scores)}) must have the same length")
    order = np.argsort(-scores, kind="stable")
    boxes = boxes[order]
    suppressed = np.zeros(len(order), dtype=bool)
    kept = []
    for position in range(len(order)):
        if suppressed[position]:
            continue
        kept.append(position)
        rest = slice(position + 1, None)
        suppressed[rest] |= box_iou_one_to_many(boxes[position], boxes[rest]) > iou_threshold
    return order[np.asarray(kept, dtype=np.int64)]


def batched_nms(boxes: np.ndarray, scores: np.ndarray, categories: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS that only compares boxes of the same category.

    Args:
        boxes: (M, 4) XYXY.
        scores: (M,).
        categories: (M,) integer category per box.
        iou_threshold: as in :func:`nms`.

    Returns:
        (K,) int64 indices into ``boxes`` by descending score (ties in input order).
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    categories = np.asarray(categories).reshape(-1)
    kept = [np.zeros(0, dtype=np.int64)]
    for category in np.unique(categories):
        members = np.flatnonzero(categories == category)
        kept.append(members[nms(boxes[members], scores[members], iou_threshold)])
    kept = np.sort(np.concatenate(kept))
    return kept[np.argsort(-scores[kept], kind="stable")]
