"""Crop boxes for multi-layer automatic mask generation.

Layer 0 is the whole image; layer ``i`` tiles it with ``2**i`` x ``2**i`` overlapping crops.

Shape legend: C crops, N points per crop.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
from PIL import Image

from .grids import build_all_layer_point_grids
from .transforms import scale_coords

#: Label of a padding point (the prompt encoder zeroes its embedding), used when layers differ in points.
PAD_LABEL = -10


def crop_boxes_and_layers(
    image_size: tuple[int, int], n_layers: int, overlap_ratio: float
) -> tuple[list[list[int]], list[int]]:
    """XYXY crop boxes and their layer indices (Meta's layout: layer by layer, x0-major within a layer).

    Args:
        image_size: (H, W).
        n_layers: the number of layers below the full image.
        overlap_ratio: the overlap of neighbouring layer-1 crops as a fraction of the shorter image side;
            deeper layers scale it by 2 / crops_per_side.

    Returns:
        C boxes [x0, y0, x1, y1] in image pixels, and C layer indices.
    """
    height, width = image_size
    boxes, layers = [[0, 0, width, height]], [0]
    short_side = min(height, width)
    for layer in range(1, n_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * short_side * (2 / per_side))
        crop_w = int(math.ceil((overlap * (per_side - 1) + width) / per_side))
        crop_h = int(math.ceil((overlap * (per_side - 1) + height) / per_side))
        x0s = [int((crop_w - overlap) * i) for i in range(per_side)]
        y0s = [int((crop_h - overlap) * i) for i in range(per_side)]
        for x0, y0 in product(x0s, y0s):
            boxes.append([x0, y0, min(x0 + crop_w, width), min(y0 + crop_h, height)])
            layers.append(layer)
    return boxes, layers


def _image_hwc(image) -> np.ndarray:
    """A PIL image or (H, W[, C]) array as an array with the image axes first."""
    array = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
    if array.ndim not in (2, 3) or min(array.shape[:2]) == 0:
        raise ValueError(f"expected one non-empty (H, W[, C]) image, got shape {array.shape}")
    return array


def generate_crop_boxes(
    image,
    target_size: int,
    crop_n_layers: int = 0,
    overlap_ratio: float = 512 / 1500,
    points_per_crop: int = 32,
    crop_n_points_downscale_factor: int = 1,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Crop boxes, the point prompts of each crop, the cropped images and the point labels.

    transformers' SamImageProcessor.generate_crop_boxes signature and return values, in numpy, with Meta's
    scaling: each crop's grid points are scaled by the crop's own resize to ``target_size`` (transformers
    scales them by the full image's, which is wrong for every crop but the first).

    Args:
        image: one (H, W, C) channels-last array or PIL image.
        target_size: the model's input side (1024).
        crop_n_layers: layers of crops below the full image.
        overlap_ratio: see :func:`crop_boxes_and_layers`.
        points_per_crop: grid points a side on the full image.
        crop_n_points_downscale_factor: layer ``i`` has ``points_per_crop / factor**i`` points a side.

    Returns:
        crop_boxes: (C, 4) float32 XYXY in image pixels.
        points: (1, N, C, 2) float64 xy in each crop's resized frame (transformers' axis order); when layers
            differ in N, the shorter lists are padded with (0, 0).
        cropped_images: C arrays, ``image[y0:y1, x0:x1]``.
        labels: (1, N, C) int64, 1 for grid points and PAD_LABEL for padding.
    """
    image = _image_hwc(image)
    boxes, layers = crop_boxes_and_layers(image.shape[:2], crop_n_layers, overlap_ratio)
    grids = build_all_layer_point_grids(points_per_crop, crop_n_layers, crop_n_points_downscale_factor)
    n_points = max(len(grid) for grid in grids)
    points = np.zeros((1, len(boxes), n_points, 2), dtype=np.float64)
    labels = np.full((1, len(boxes), n_points), PAD_LABEL, dtype=np.int64)
    cropped_images = []
    for index, ((x0, y0, x1, y1), layer) in enumerate(zip(boxes, layers)):
        cropped = image[y0:y1, x0:x1]
        cropped_images.append(cropped)
        crop_size = cropped.shape[:2]
        grid = grids[layer] * np.array(crop_size[::-1], dtype=np.float64)[None, :]
        points[0, index, : len(grid)] = scale_coords(grid, crop_size, target_size)
        labels[0, index, : len(grid)] = 1
    return np.asarray(boxes, dtype=np.float32), points.transpose(0, 2, 1, 3), cropped_images, labels.transpose(0, 2, 1)
