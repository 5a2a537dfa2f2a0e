"""The image processor's automatic-mask-generation methods (transformers' names), delegating to sam_core.amg.

They compute in numpy and return arrays of the kind they were given (numpy, torch or tf) unless
``return_tensors`` names one, as post_process_masks does.
Shape legend: C crops, N points per crop, K masks, H/W image size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import amg
from .tensors import array_kind, to_framework, to_numpy


def _kind(reference: Any, return_tensors: str | None) -> str:
    return return_tensors if return_tensors is not None else array_kind(reference)


class MaskGenerationMethods:
    """Mixin for SamImageProcessor: generate_crop_boxes, filter_masks, post_process_for_mask_generation."""

    def generate_crop_boxes(
        self,
        image: Any,
        target_size: int,
        crop_n_layers: int = 0,
        overlap_ratio: float = 512 / 1500,
        points_per_crop: int = 32,
        crop_n_points_downscale_factor: int = 1,
        return_tensors: str | None = None,
    ) -> tuple[Any, Any, list[np.ndarray], Any]:
        """Crop boxes (C, 4), grid points (1, N, C, 2) in each crop's resized frame, the cropped images, and
        point labels (1, N, C) (padding -10 where layers have fewer points); see sam_core.amg.generate_crop_boxes."""
        boxes, points, crops, labels = amg.generate_crop_boxes(
            to_numpy(image) if not hasattr(image, "convert") else image,
            target_size,
            crop_n_layers=crop_n_layers,
            overlap_ratio=overlap_ratio,
            points_per_crop=points_per_crop,
            crop_n_points_downscale_factor=crop_n_points_downscale_factor,
        )
        kind = return_tensors if return_tensors is not None else "np"
        return to_framework(boxes, kind), to_framework(points, kind), crops, to_framework(labels, kind)

    def filter_masks(
        self,
        masks: Any,
        iou_scores: Any,
        original_size: tuple[int, int],
        cropped_box_image: Any,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        mask_threshold: float = 0.0,
        stability_score_offset: float = 1.0,
        return_tensors: str | None = None,
    ) -> tuple[list[dict], Any, Any]:
        """Keeps a crop's masks that pass the IoU, stability and crop-edge tests.

        Returns:
            K uncompressed RLEs in the image frame, (K,) scores and (K, 4) XYXY boxes.
        """
        rles, scores, boxes = amg.filter_masks(
            to_numpy(masks), to_numpy(iou_scores), tuple(int(v) for v in to_numpy(original_size)),
            to_numpy(cropped_box_image), pred_iou_thresh=pred_iou_thresh,
            stability_score_thresh=stability_score_thresh, mask_threshold=mask_threshold,
            stability_score_offset=stability_score_offset,
        )
        kind = _kind(masks, return_tensors)
        return rles, to_framework(scores, kind), to_framework(boxes, kind)

    def post_process_for_mask_generation(
        self,
        all_masks: list[dict],
        all_scores: Any,
        all_boxes: Any,
        crops_nms_thresh: float = 0.7,
        return_tensors: str | None = None,
    ) -> tuple[list[np.ndarray], Any, list[dict], Any]:
        """NMS across crops. Returns K masks, (K,) scores, K RLEs and (K, 4) boxes, in NMS order."""
        masks, scores, rles, boxes = amg.post_process_for_mask_generation(
            all_masks, to_numpy(all_scores), to_numpy(all_boxes), crops_nms_thresh
        )
        kind = _kind(all_scores, return_tensors)
        return masks, to_framework(scores, kind), rles, to_framework(boxes, kind)
