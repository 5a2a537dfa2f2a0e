"""Mask filtering for automatic mask generation, and the final cross-crop NMS.

Meta's order per batch: keep predicted IoU > pred_iou_thresh, keep stability >= stability_score_thresh,
binarize, box, drop boxes cut by the crop's inner edges, uncrop to the image, encode as RLE. Comparisons are
float32, as in Meta's torch code.

Shape legend: M masks, h/w crop height and width, H/W image height and width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .column_runs import column_runs, padded_columns
from .nms import batched_nms
from .rle import Rle, masks_to_rle, rle_to_mask
from .scoring import box_area, is_box_near_crop_edge, masks_to_boxes, stability_from_counts, stability_score
from .upscale import MaskUpscaler


def iou_keep(iou_scores: np.ndarray, pred_iou_thresh: float) -> np.ndarray:
    """(M,) bool: predicted IoU strictly above the threshold (all True when the threshold is <= 0)."""
    iou_scores = np.asarray(iou_scores, dtype=np.float32)
    if pred_iou_thresh <= 0.0:
        return np.ones(iou_scores.shape, dtype=bool)
    return iou_scores > np.float32(pred_iou_thresh)


def stability_keep(stability: np.ndarray, stability_score_thresh: float) -> np.ndarray:
    """(M,) bool: stability at or above the threshold (all True when the threshold is <= 0)."""
    stability = np.asarray(stability, dtype=np.float32)
    if stability_score_thresh <= 0.0:
        return np.ones(stability.shape, dtype=bool)
    return stability >= np.float32(stability_score_thresh)


def uncrop_masks(masks: np.ndarray, crop_box: Sequence[int], image_size: tuple[int, int]) -> np.ndarray:
    """Places (M, h, w) crop masks into (M, H, W) image masks (zeros outside the crop)."""
    x0, y0, x1, y1 = (int(v) for v in crop_box)
    height, width = image_size
    if (x0, y0, x1, y1) == (0, 0, width, height):
        return masks
    out = np.zeros((masks.shape[0], height, width), dtype=masks.dtype)
    out[:, y0:y1, x0:x1] = masks
    return out


@dataclass
class FilteredMasks:
    """The masks of one batch that pass every filter.

    Attributes:
        indices: (K,) positions of the kept masks in the input.
        rles: K uncompressed RLEs of the masks in the image frame (counts a list, or a compact unsigned array from
            :func:`filter_column_masks`).
        boxes: (K, 4) int64 XYXY boxes in the image frame (inclusive right/bottom).
        iou_scores: (K,) float32 predicted IoUs.
        stability: (K,) float32 stability scores.
    """

    indices: np.ndarray
    rles: list[Rle]
    boxes: np.ndarray
    iou_scores: np.ndarray
    stability: np.ndarray


def filter_crop_logits(
    logits: np.ndarray,
    iou_scores: np.ndarray,
    *,
    crop_box: Sequence[int],
    image_size: tuple[int, int],
    pred_iou_thresh: float,
    stability_score_thresh: float,
    mask_threshold: float = 0.0,
    stability_score_offset: float = 1.0,
) -> FilteredMasks:
    """Applies Meta's per-batch filters to crop-resolution logits.

    Args:
        logits: (M, h, w) mask logits upscaled to the crop's size.
        iou_scores: (M,) predicted IoUs.
        crop_box: XYXY crop box in the image frame.
        image_size: (H, W) of the image.
        pred_iou_thresh: see :func:`iou_keep`.
        stability_score_thresh: see :func:`stability_keep`.
        mask_threshold: the logit threshold of a mask pixel.
        stability_score_offset: the threshold offset of the stability score.

    Returns:
        The surviving masks, RLE-encoded in the image frame.
    """
    iou_scores = np.asarray(iou_scores, dtype=np.float32).reshape(-1)
    logits = np.asarray(logits)
    if logits.shape[0] != iou_scores.shape[0]:
        raise ValueError(f"masks ({logits.shape[0]}) and iou_scores ({iou_scores.shape[0]}) differ in number")
    indices = np.flatnonzero(iou_keep(iou_scores, pred_iou_thresh))
    selected = logits if len(indices) == len(logits) else logits[indices]  # no copy when all pass
    stability = stability_score(selected, mask_threshold, stability_score_offset)
    passed = stability_keep(stability, stability_score_thresh)
    masks = (selected if passed.all() else selected[passed]) > mask_threshold
    return _keep_inside_crop(indices[passed], masks, stability[passed], iou_scores, crop_box, image_size)


def upscale_columns_and_stability(
    upscaler: MaskUpscaler, logits: np.ndarray, mask_threshold: float = 0.0, stability_score_offset: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Binary masks, as padded columns, and stability scores of low-res logits, upscaled a bounded piece at a time.

    The same values as binarizing and scoring ``upscaler(logits)`` (up to float32 rounding, see
    MaskUpscaler.column_chunks), without ever holding the full-size float32 logits: the stability score only
    needs two pixel counts per mask, summed over the pieces.

    Args:
        upscaler: maps the low-res logits to the crop's size (h, w).
        logits: (M, L, L) low-res mask logits.
        mask_threshold: the logit threshold of a mask pixel.
        stability_score_offset: the threshold offset of the stability score.

    Returns:
        columns: (M, w, h + 2) bool, ``columns[m, x, 1 + y]`` the pixel (y, x) of mask m, zero above and below
            every column (see column_runs.padded_columns); stability: (M,) float32.
    """
    columns = padded_columns(len(logits), upscaler.original_size)
    inner, outer = np.zeros(len(logits), dtype=np.int64), np.zeros(len(logits), dtype=np.int64)
    high, low = mask_threshold + stability_score_offset, mask_threshold - stability_score_offset
    for which, band, values in upscaler.column_chunks(logits):
        for index, piece in zip(range(which.start, which.stop), values):  # whole-array counts: 3x faster than axis=
            inner[index] += np.count_nonzero(piece > high)
            outer[index] += np.count_nonzero(piece > low)
        np.greater(values, mask_threshold, out=columns[which, band, 1:-1])
    return columns, stability_from_counts(inner, outer)


def filter_column_masks(
    columns: np.ndarray,
    stability: np.ndarray,
    iou_scores: np.ndarray,
    *,
    crop_box: Sequence[int],
    image_size: tuple[int, int],
    stability_score_thresh: float,
) -> FilteredMasks:
    """:func:`filter_crop_logits` after its predicted-IoU filter, for masks already binarized and scored (by
    :func:`upscale_columns_and_stability`): the stability filter, the crop-edge filter, and RLE in the image frame.

    Args:
        columns: (M, w, h + 2) bool padded column masks of the crop.
        stability: (M,) float32 stability scores.
        iou_scores: (M,) predicted IoUs.
        crop_box: XYXY crop box in the image frame.
        image_size: (H, W) of the image.
        stability_score_thresh: see :func:`stability_keep`.

    Returns:
        The surviving masks; their RLE counts are compact unsigned arrays (see column_runs).
    """
    passed = np.flatnonzero(stability_keep(stability, stability_score_thresh))
    runs = column_runs(columns if len(passed) == len(columns) else columns[passed])
    boxes = np.array([run.box() for run in runs], dtype=np.int64).reshape(-1, 4)
    height, width = image_size
    inside = np.flatnonzero(~is_box_near_crop_edge(boxes, crop_box, [0, 0, width, height]))
    kept = passed[inside]
    x0, y0 = int(crop_box[0]), int(crop_box[1])
    return FilteredMasks(
        indices=kept,
        rles=[{"size": [height, width], "counts": runs[i].counts(crop_box, image_size)} for i in inside],
        boxes=boxes[inside] + np.array([x0, y0, x0, y0], dtype=np.int64),
        iou_scores=np.asarray(iou_scores, dtype=np.float32).reshape(-1)[kept],
        stability=np.asarray(stability, dtype=np.float32)[kept],
    )


def _keep_inside_crop(
    indices: np.ndarray,
    masks: np.ndarray,
    stability: np.ndarray,
    iou_scores: np.ndarray,
    crop_box: Sequence[int],
    image_size: tuple[int, int],
) -> FilteredMasks:
    """Drops (K, h, w) masks whose box touches an inner crop edge; encodes the rest in the image frame."""
    boxes = masks_to_boxes(masks)
    height, width = image_size
    inside = ~is_box_near_crop_edge(boxes, crop_box, [0, 0, width, height])
    if not inside.all():
        indices, stability, masks, boxes = indices[inside], stability[inside], masks[inside], boxes[inside]
    x0, y0 = int(crop_box[0]), int(crop_box[1])
    return FilteredMasks(
        indices=indices,
        rles=masks_to_rle(uncrop_masks(masks, crop_box, image_size)),
        boxes=boxes + np.array([x0, y0, x0, y0], dtype=np.int64),
        iou_scores=iou_scores[indices],
        stability=stability,
    )


def filter_masks(
    masks,
    iou_scores,
    original_size: tuple[int, int],
    cropped_box_image: Sequence[int],
    pred_iou_thresh: float = 0.88,
    stability_score_thresh: float = 0.95,
    mask_threshold: float = 0,
    stability_score_offset: float = 1,
) -> tuple[list[Rle], np.ndarray, np.ndarray]:
    """transformers' SamImageProcessor.filter_masks, in numpy, with Meta's semantics.

    Differences from transformers 4.57: the stability test is ``>=`` (Meta) rather than ``>``, and the
    returned boxes are in the image frame (transformers returns them in the crop's frame, which breaks the
    cross-crop NMS for every crop but the first).

    Args:
        masks: (..., h, w) mask logits at the crop's size (leading axes are flattened, e.g. (P, 3, h, w)).
        iou_scores: (...) predicted IoUs, with the same leading axes.
        original_size: (H, W) of the whole image.
        cropped_box_image: XYXY crop box in the image frame.
        pred_iou_thresh: keep predicted IoU > this.
        stability_score_thresh: keep stability >= this.
        mask_threshold: the logit threshold of a mask pixel.
        stability_score_offset: the threshold offset of the stability score.

    Returns:
        rles: K uncompressed RLEs in the image frame.
        scores: (K,) float32 predicted IoUs.
        boxes: (K, 4) int64 XYXY boxes in the image frame.
    """
    masks = np.asarray(masks, dtype=np.float32)
    masks = masks.reshape(-1, *masks.shape[-2:])
    kept = filter_crop_logits(
        masks,
        np.asarray(iou_scores).reshape(-1),
        crop_box=cropped_box_image,
        image_size=tuple(int(s) for s in original_size),
        pred_iou_thresh=pred_iou_thresh,
        stability_score_thresh=stability_score_thresh,
        mask_threshold=mask_threshold,
        stability_score_offset=stability_score_offset,
    )
    return kept.rles, kept.iou_scores, kept.boxes


def crop_nms_scores(crop_boxes: np.ndarray) -> np.ndarray:
    """(M,) float32 NMS scores 1 / crop area: masks from smaller crops win across crops."""
    return np.float32(1.0) / box_area(np.asarray(crop_boxes).reshape(-1, 4)).astype(np.float32)


def post_process_for_mask_generation(
    all_masks: list[Rle],
    all_scores: np.ndarray,
    all_boxes: np.ndarray,
    crops_nms_thresh: float = 0.7,
    *,
    crop_boxes: np.ndarray | None = None,
) -> tuple[list[np.ndarray], np.ndarray, list[Rle], np.ndarray]:
    """Removes duplicates across crops by box NMS (transformers' post_process_for_mask_generation).

    Args:
        all_masks: M uncompressed RLEs.
        all_scores: (M,) predicted IoUs.
        all_boxes: (M, 4) XYXY boxes in the image frame.
        crops_nms_thresh: the box IoU threshold.
        crop_boxes: (M, 4) XYXY crop box of each mask. When given, NMS is scored by 1 / crop area (Meta:
            prefer masks from smaller crops); otherwise by the predicted IoUs (transformers).

    Returns:
        masks: K (H, W) boolean masks; scores: (K,); rles: K RLEs; boxes: (K, 4), in NMS order.
    """
    boxes = np.asarray(all_boxes).reshape(-1, 4)
    scores = np.asarray(all_scores, dtype=np.float32).reshape(-1)
    nms_scores = scores if crop_boxes is None else crop_nms_scores(crop_boxes)
    keep = batched_nms(boxes, nms_scores, np.zeros(len(boxes), dtype=np.int64), crops_nms_thresh)
    rles = [all_masks[i] for i in keep]
    return [rle_to_mask(rle) for rle in rles], scores[keep], rles, boxes[keep]
