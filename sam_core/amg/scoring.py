"""Per-mask scores and boxes: stability score, mask -> box, and the crop-edge test.

Shape legend: M masks, H/W mask height and width.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Boxes within this many pixels of a crop's inner edge are dropped (they are likely cut by the crop).
CROP_EDGE_TOLERANCE = 20.0


def stability_score(logits: np.ndarray, mask_threshold: float, offset: float) -> np.ndarray:
    """IoU of the masks binarized at ``mask_threshold + offset`` and ``mask_threshold - offset``.

    The first mask lies inside the second, so the IoU is a ratio of pixel counts. An empty outer mask gives
    NaN (0/0), which fails every threshold, as in Meta's float32 arithmetic.

    Args:
        logits: (..., H, W) mask logits.
        mask_threshold: the binarization threshold (0 for SAM).
        offset: the threshold offset.

    Returns:
        (...) float32 scores.
    """
    inner = np.count_nonzero(logits > (mask_threshold + offset), axis=(-2, -1))
    outer = np.count_nonzero(logits > (mask_threshold - offset), axis=(-2, -1))
    return stability_from_counts(inner, outer)


def stability_from_counts(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """The stability score from the (...) pixel counts above ``threshold + offset`` and ``threshold - offset``:
    their float32 ratio (NaN for 0/0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(inner, dtype=np.float32) / np.asarray(outer, dtype=np.float32)


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight XYXY boxes with inclusive right/bottom pixel indices; (0, 0, 0, 0) for an empty mask.

    Args:
        masks: (..., H, W) boolean masks.

    Returns:
        (..., 4) int64 boxes [x0, y0, x1, y1].
    """
    masks = np.asarray(masks, dtype=bool)
    lead = masks.shape[:-2]
    if masks.size == 0:
        return np.zeros((*lead, 4), dtype=np.int64)
    rows = masks.any(axis=-1)  # (..., H)
    cols = masks.any(axis=-2)  # (..., W)
    height, width = masks.shape[-2:]
    y0 = np.argmax(rows, axis=-1)
    y1 = height - 1 - np.argmax(rows[..., ::-1], axis=-1)
    x0 = np.argmax(cols, axis=-1)
    x1 = width - 1 - np.argmax(cols[..., ::-1], axis=-1)
    boxes = np.stack([x0, y0, x1, y1], axis=-1).astype(np.int64)
    boxes[~rows.any(axis=-1)] = 0
    return boxes


def is_box_near_crop_edge(
    boxes: np.ndarray,
    crop_box: Sequence[int],
    orig_box: Sequence[int],
    atol: float = CROP_EDGE_TOLERANCE,
) -> np.ndarray:
    """Whether each box touches an edge of its crop that is not also an edge of the image.

    Args:
        boxes: (M, 4) XYXY boxes in the crop's frame.
        crop_box: XYXY crop box in the image frame.
        orig_box: XYXY image box, (0, 0, W, H).
        atol: the distance in pixels that counts as touching.

    Returns:
        (M,) bool.
    """
    crop = np.asarray(crop_box, dtype=np.float32)
    image = np.asarray(orig_box, dtype=np.float32)
    offset = np.array([crop[0], crop[1], crop[0], crop[1]], dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) + offset
    near_crop = np.abs(boxes - crop) <= atol
    near_image = np.abs(boxes - image) <= atol
    return np.any(near_crop & ~near_image, axis=1)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(M, 4) XYXY boxes -> (M,) areas (x1 - x0) * (y1 - y0), in the boxes' dtype."""
    boxes = np.asarray(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) XYXY -> (..., 4) XYWH (width x1 - x0, height y1 - y0)."""
    boxes = np.array(boxes, copy=True)
    boxes[..., 2] = boxes[..., 2] - boxes[..., 0]
    boxes[..., 3] = boxes[..., 3] - boxes[..., 1]
    return boxes
