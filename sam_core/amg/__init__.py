"""Automatic mask generation building blocks (numpy only; scipy and pycocotools are imported on use).

Point grids, crop boxes, mask upscaling, stability scores, boxes, NMS, RLE and small-region cleaning, shared
by SamAutomaticMaskGenerator and the image processor.
"""

from .crops import PAD_LABEL, crop_boxes_and_layers, generate_crop_boxes
from .filtering import (
    FilteredMasks,
    crop_nms_scores,
    filter_crop_logits,
    filter_masks,
    iou_keep,
    post_process_for_mask_generation,
    stability_keep,
    uncrop_masks,
)
from .grids import build_all_layer_point_grids, build_point_grid
from .nms import batched_nms, box_iou_one_to_many, nms
from .regions import postprocess_small_regions, remove_small_regions
from .rle import Rle, area_from_rle, coco_encode_rle, coco_rle_to_mask, masks_to_rle, rle_to_mask
from .scoring import (
    CROP_EDGE_TOLERANCE,
    box_area,
    box_xyxy_to_xywh,
    is_box_near_crop_edge,
    masks_to_boxes,
    stability_score,
)
from .transforms import (
    PIXEL_MEAN,
    PIXEL_STD,
    normalize_and_pad,
    resize_longest_side,
    scale_boxes,
    scale_coords,
)
from .upscale import MaskUpscaler, cached_upscaler

__all__ = [
    "CROP_EDGE_TOLERANCE",
    "PAD_LABEL",
    "PIXEL_MEAN",
    "PIXEL_STD",
    "FilteredMasks",
    "MaskUpscaler",
    "Rle",
    "area_from_rle",
    "batched_nms",
    "box_area",
    "box_iou_one_to_many",
    "box_xyxy_to_xywh",
    "build_all_layer_point_grids",
    "build_point_grid",
    "cached_upscaler",
    "coco_encode_rle",
    "coco_rle_to_mask",
    "crop_boxes_and_layers",
    "crop_nms_scores",
    "filter_crop_logits",
    "filter_masks",
    "generate_crop_boxes",
    "iou_keep",
    "is_box_near_crop_edge",
    "masks_to_boxes",
    "masks_to_rle",
    "nms",
    "normalize_and_pad",
    "post_process_for_mask_generation",
    "postprocess_small_regions",
    "remove_small_regions",
    "resize_longest_side",
    "rle_to_mask",
    "scale_boxes",
    "scale_coords",
    "stability_keep",
    "stability_score",
    "uncrop_masks",
]
