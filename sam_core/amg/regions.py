"""Removing small holes and small islands from masks (``min_mask_region_area``).

Connected components come from scipy.ndimage with 8-connectivity, as in Meta's use of OpenCV.

Shape legend: M masks, H/W mask height and width.
"""

from __future__ import annotations

import numpy as np

from .nms import batched_nms
from .rle import Rle, masks_to_rle, rle_to_mask
from .scoring import masks_to_boxes

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    try:
        from scipy import ndimage
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("min_mask_region_area > 0 needs scipy: pip install scipy") from error
    return ndimage.label(mask, structure=_EIGHT_CONNECTED)


def remove_small_regions(mask: np.ndarray, area_thresh: float, mode: str) -> tuple[np.ndarray, bool]:
    """Fills small holes or removes small islands of one mask.

    Args:
        mask: (H, W) boolean mask.
        area_thresh: regions with fewer pixels than this are small.
        mode: "holes" (fill small background regions) or "islands" (drop small foreground regions; if every
            island is small, the largest stays).

    Returns:
        The new (H, W) boolean mask and whether it changed.
    """
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}")
    fill_holes = mode == "holes"
    mask = np.asarray(mask, dtype=bool)
    labels, count = _label(mask != fill_holes)  # holes: the background's components; islands: the mask's
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    small = np.flatnonzero(sizes < area_thresh) + 1
    if len(small) == 0:
        return mask, False
    if fill_holes:
        return mask | np.isin(labels, small), True
    large = np.setdiff1d(np.arange(1, count + 1), small)
    if len(large) == 0:
        large = np.array([int(np.argmax(sizes)) + 1])
    return np.isin(labels, large), True


def postprocess_small_regions(
    rles: list[Rle], boxes: np.ndarray, min_area: float, nms_thresh: float
) -> tuple[np.ndarray, list[Rle], np.ndarray]:
    """Cleans every mask of small holes and islands, then removes new duplicates by NMS.

    NMS scores unchanged masks 1 and changed masks 0, so a mask that needed no cleaning wins.

    Args:
        rles: M uncompressed RLEs.
        boxes: (M, 4) XYXY boxes of the masks.
        min_area: the area threshold for holes and islands.
        nms_thresh: the box IoU threshold.

    Returns:
        keep: (K,) indices of the kept masks, in NMS order.
        rles: the M RLEs, with the kept changed masks re-encoded.
        boxes: (M, 4) boxes, with the kept changed masks' boxes recomputed.
    """
    rles = list(rles)
    boxes = np.array(boxes, copy=True).reshape(-1, 4)
    if not rles:
        return np.zeros(0, dtype=np.int64), rles, boxes
    cleaned: dict[int, Rle] = {}  # only changed masks, kept as RLE so that no mask stack is held
    new_boxes = np.zeros((len(rles), 4), dtype=np.int64)
    for index, rle in enumerate(rles):
        mask, holes_changed = remove_small_regions(rle_to_mask(rle), min_area, mode="holes")
        mask, islands_changed = remove_small_regions(mask, min_area, mode="islands")
        new_boxes[index] = masks_to_boxes(mask)
        if holes_changed or islands_changed:
            cleaned[index] = masks_to_rle(mask[None])[0]
    scores = np.array([index not in cleaned for index in range(len(rles))], dtype=np.float32)
    keep = batched_nms(new_boxes, scores, np.zeros(len(rles), dtype=np.int64), nms_thresh)
    for index in keep:
        if index in cleaned:
            rles[index] = cleaned[index]
            boxes[index] = new_boxes[index]
    return keep, rles, boxes
