"""Meta's ResizeLongestSide frame: the image resize, the pixel normalization, and coordinate scaling.

The model sees the image resized so that its longer side is ``long_side`` (1024), normalized, and padded with
zeros at the bottom and right to a square. Prompts given in original-image pixels are scaled into that frame.

Shape legend: H, W original image size; h, w resized size; S padded square side (long_side).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..image_transforms import pil_resize, preprocess_shape

#: ImageNet mean and std in 0-255 units, as Meta's Sam applies them to the uint8 resized image.
PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def scale_coords(coords: np.ndarray, original_size: tuple[int, int], long_side: int) -> np.ndarray:
    """Scales xy coordinates from original-image pixels into the resized frame.

    Args:
        coords: (..., 2) xy in original pixels.
        original_size: (H, W) of the image.
        long_side: the resized longer side.

    Returns:
        (..., 2) float64 xy in resized pixels (x by w/W, y by h/H).
    """
    old_h, old_w = original_size
    new_h, new_w = preprocess_shape((old_h, old_w), long_side)
    scaled = np.array(coords, dtype=np.float64, copy=True)
    scaled[..., 0] *= new_w / old_w
    scaled[..., 1] *= new_h / old_h
    return scaled


def scale_boxes(boxes: np.ndarray, original_size: tuple[int, int], long_side: int) -> np.ndarray:
    """Scales (..., 4) xyxy boxes from original-image pixels into the resized frame (float64)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return scale_coords(boxes.reshape(*boxes.shape[:-1], 2, 2), original_size, long_side).reshape(boxes.shape)


def resize_longest_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Resizes a (H, W, 3) uint8 image to (h, w, 3) uint8 with PIL's bilinear filter (as Meta does)."""
    return pil_resize(image, preprocess_shape(image.shape[:2], long_side), Image.BILINEAR, name="image")


def normalize_and_pad(image: np.ndarray, long_side: int) -> np.ndarray:
    """(h, w, 3) uint8 resized image -> (1, 3, S, S) float32 normalized pixel values, zero-padded bottom/right."""
    height, width = image.shape[:2]
    normalized = (image.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD
    padded = np.zeros((1, 3, long_side, long_side), dtype=np.float32)
    padded[0, :, :height, :width] = normalized.transpose(2, 0, 1)
    return padded
