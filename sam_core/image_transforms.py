"""Framework-free image array operations behind SamImageProcessor.

Reading user images into (H, W, 3) arrays, the longest-edge resize done by PIL on uint8 pixels (deciding, as
transformers does, how float pixels become uint8), zero padding, and torch-style bilinear interpolation
(align_corners=False) as interpolation matrices for upscaling mask logits.

Shape legend: H x W original image size, h x w resized size, C channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import PIL.Image

from .tensors import array_kind, to_numpy
from .validation import check_image_dtype, check_image_object, image_layout


def preprocess_shape(original_size: tuple[int, int], longest_edge: int) -> tuple[int, int]:
    """(h, w) after scaling so that the longer side is ``longest_edge``: ``int(x * scale + 0.5)``."""
    old_h, old_w = int(original_size[0]), int(original_size[1])
    scale = longest_edge * 1.0 / max(old_h, old_w)
    return int(old_h * scale + 0.5), int(old_w * scale + 0.5)


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """The (out_size, in_size) float64 matrix of torch's bilinear resize (align_corners=False, no antialias).

    Source positions are float32, as torch computes them on the CPU: ``(dst + 0.5) * scale - 0.5`` with one
    rounding (a fused multiply-add), emulated by an exact float64 product rounded to float32.
    """
    scale = np.float64(np.float32(in_size) / np.float32(out_size))
    half_steps = np.arange(out_size, dtype=np.float64) + 0.5
    src = (half_steps * scale - 0.5).astype(np.float32).clip(min=0)
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    frac = (src - low).astype(np.float64)
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def to_pil_ready(array: np.ndarray, *, name: str) -> tuple[np.ndarray, bool]:
    """uint8 pixels for PIL, and whether they were scaled up from [0, 1] (as transformers decides).

    uint8 passes; integers, bools and integral floats must lie in [0, 255]; other floats in [0, 1] are multiplied
    by 255 and truncated; other floats in [0, 255] are rounded (transformers refuses those).
    """
    if array.dtype == np.uint8:
        return array, False
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    integral = not np.issubdtype(array.dtype, np.floating) or np.allclose(array, array.astype(np.int64))
    if integral and 0 <= low and high <= 255:
        return array.astype(np.uint8), False
    if not integral and 0 <= low and high <= 1:
        return (array.astype(np.float64) * 255).astype(np.float32).astype(np.uint8), True
    if not integral and 0 <= low and high <= 255:
        return np.rint(array).astype(np.uint8), False
    raise ValueError(f"{name} pixel values must lie in [0, 255] (or [0, 1] for floats), got [{low}, {high}]")


def pil_resize(array: np.ndarray, out_hw: tuple[int, int], resample: Any, *, name: str) -> np.ndarray:
    """Resizes an (H, W) or (H, W, C) array with PIL; float [0, 1] input comes back as float32 [0, 1]."""
    pixels, scaled = to_pil_ready(array, name=name)
    squeeze = pixels.ndim == 3 and pixels.shape[-1] == 1
    image = PIL.Image.fromarray(pixels[..., 0] if squeeze else pixels)
    resized = np.asarray(image.resize((out_hw[1], out_hw[0]), resample=PIL.Image.Resampling(resample)))
    resized = resized[..., None] if squeeze else resized
    return (resized.astype(np.float64) * (1 / 255)).astype(np.float32) if scaled else resized


def pad_bottom_right(array: np.ndarray, out_hw: tuple[int, int], *, name: str) -> np.ndarray:
    """Zero-pads an (H, W, ...) array to out_hw at the bottom and right."""
    pad_h, pad_w = out_hw[0] - array.shape[0], out_hw[1] - array.shape[1]
    if pad_h < 0 or pad_w < 0:
        raise ValueError(
            f"{name} ({out_hw[0]}x{out_hw[1]}) is smaller than the image ({array.shape[0]}x{array.shape[1]})"
        )
    return np.pad(array, [(0, pad_h), (0, pad_w)] + [(0, 0)] * (array.ndim - 2))


def flat_images(images: Any, *, name: str, item_ndim: int = 3) -> list[Any]:
    """A single image, a list (possibly nested one level) or a batch array -> a flat list of images.

    An array with ``item_ndim + 1`` dimensions is a batch: (B, H, W, C) images or (B, H, W) label maps.
    """
    if images is None:
        raise ValueError(f"{name} is required")
    if isinstance(images, (list, tuple)):
        flat = [item for group in images for item in (group if isinstance(group, (list, tuple)) else [group])]
        if not flat:
            raise ValueError(f"{name} must not be empty")
        return flat
    if array_kind(images) != "np" or isinstance(images, np.ndarray):
        array = to_numpy(images)
        if array.ndim == item_ndim + 1:
            return list(array)
    return [images]


def image_to_hwc3(image: Any, *, do_convert_rgb: bool, input_layout: str | None, name: str) -> np.ndarray:
    """Any supported image -> (H, W, 3) array: PIL modes via PIL's RGB conversion, gray repeated, alpha dropped."""
    check_image_object(image, name=name)
    if isinstance(image, PIL.Image.Image):
        if do_convert_rgb and image.mode != "RGB":
            image = image.convert("RGB")
        array = np.asarray(image)
        layout = "hw" if array.ndim == 2 else "hwc"
    else:
        array = to_numpy(image)
        layout = input_layout
    check_image_dtype(array, name=name)
    inferred = image_layout(array.shape, name=name)
    layout = layout or inferred
    if layout == "chw":
        array = np.moveaxis(array, 0, -1)
    elif layout == "hw":
        if array.ndim != 2:
            raise ValueError(f"{name} has shape {array.shape}, which is not (H, W) as input_data_format says")
        array = array[..., None]
    channels = array.shape[-1]
    if channels not in (1, 3, 4):
        raise ValueError(f"{name} must have 1, 3 or 4 channels, got shape {array.shape} ({layout})")
    return np.repeat(array, 3, axis=-1) if channels == 1 else array[..., :3]


def upscale_masks(
    logits: np.ndarray, original_size: Any, reshaped_size: Any, pad_hw: tuple[int, int]
) -> np.ndarray:
    """(..., h, w) logits -> (..., H, W) float32: resize to ``pad_hw``, crop to ``reshaped_size``, resize to
    ``original_size``; the three linear steps are folded into one row and one column matrix."""
    (orig_h, orig_w), (crop_h, crop_w) = (int(v) for v in original_size), (int(v) for v in reshaped_size)
    if not (0 < crop_h <= pad_hw[0] and 0 < crop_w <= pad_hw[1]):
        raise ValueError(f"reshaped_input_sizes {(crop_h, crop_w)} must fit in pad_size {tuple(pad_hw)}")
    if orig_h <= 0 or orig_w <= 0:
        raise ValueError(f"original_sizes must be positive, got {(orig_h, orig_w)}")
    rows = bilinear_matrix(crop_h, orig_h) @ bilinear_matrix(logits.shape[-2], pad_hw[0])[:crop_h]  # (H, h)
    cols = bilinear_matrix(crop_w, orig_w) @ bilinear_matrix(logits.shape[-1], pad_hw[1])[:crop_w]  # (W, w)
    rows, cols = rows.astype(np.float32), cols.T.astype(np.float32)
    # Same result either way; multiply first along the side that grows less (fewer operations).
    return (rows @ logits) @ cols if orig_h <= orig_w else rows @ (logits @ cols)
