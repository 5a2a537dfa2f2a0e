"""Prompt sampling from ground-truth masks: points inside / outside, jittered boxes, corrective points.

Everything is numpy and works in original-image pixel coordinates (x, y); SamProcessor then scales the prompts
into the model's frame. Corrective points are found on a low-resolution error map (the model's mask frame) and
mapped back to original pixels with ``frame_to_original``.

Shape legend: H x W mask (original image or low-res frame), n points.
"""

from __future__ import annotations

import numpy as np

from ..image_transforms import preprocess_shape

POSITIVE, NEGATIVE = 1, 0


def _pixels(mask: np.ndarray) -> np.ndarray:
    """(n, 2) xy coordinates of the True pixels."""
    ys, xs = np.nonzero(mask)
    return np.stack([xs, ys], axis=-1)


def sample_points_in(mask: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) float64 xy pixel coordinates drawn uniformly (with replacement) from the True pixels.

    Raises:
        ValueError: the mask is empty.
    """
    pixels = _pixels(np.asarray(mask, dtype=bool))
    if len(pixels) == 0:
        raise ValueError("cannot sample points from an empty mask")
    return pixels[rng.integers(len(pixels), size=count)].astype(np.float64)


def sample_negative_points(mask: np.ndarray, count: int, rng: np.random.Generator, margin: float = 0.2) -> np.ndarray:
    """(count, 2) xy points outside ``mask``, within its box grown by ``margin`` of its size (else anywhere).

    Raises:
        ValueError: the mask covers the whole image.
    """
    mask = np.asarray(mask, dtype=bool)
    x1, y1, x2, y2 = mask_to_box(mask)
    grow_x, grow_y = margin * (x2 - x1 + 1), margin * (y2 - y1 + 1)
    height, width = mask.shape
    window = np.zeros_like(mask)
    window[max(0, int(y1 - grow_y)) : min(height, int(y2 + grow_y) + 1),
           max(0, int(x1 - grow_x)) : min(width, int(x2 + grow_x) + 1)] = True  # fmt: skip
    outside = window & ~mask
    if not outside.any():
        outside = ~mask
    return sample_points_in(outside, count, rng)


def mask_to_box(mask: np.ndarray) -> np.ndarray:
    """(4,) float64 tight xyxy box of the True pixels (x2, y2 are the last pixel's indices, as SAM's boxes).

    Raises:
        ValueError: the mask is empty.
    """
    ys, xs = np.nonzero(np.asarray(mask, dtype=bool))
    if len(xs) == 0:
        raise ValueError("an empty mask has no box")
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)


def jitter_box(
    box: np.ndarray, image_size: tuple[int, int], rng: np.random.Generator, std_fraction: float = 0.1,
    max_std: float = 20.0,
) -> np.ndarray:  # fmt: skip
    """Adds Gaussian noise to each coordinate, as in the SAM paper: std 10% of the side, at most 20 pixels.

    Args:
        box: (4,) xyxy.
        image_size: (H, W); the result is clipped to the image and kept ordered (x1 <= x2, y1 <= y2).
        std_fraction: noise std as a fraction of the box's width (x) or height (y).
        max_std: cap on the std, in pixels.

    Returns:
        (4,) float64 xyxy.
    """
    box = np.asarray(box, dtype=np.float64)
    sides = np.array([box[2] - box[0], box[3] - box[1]] * 2) + 1
    noisy = box + rng.normal(size=4) * np.minimum(std_fraction * sides, max_std)
    height, width = image_size
    noisy[[0, 2]] = np.clip(noisy[[0, 2]], 0, width - 1)
    noisy[[1, 3]] = np.clip(noisy[[1, 3]], 0, height - 1)
    return np.concatenate([np.minimum(noisy[:2], noisy[2:]), np.maximum(noisy[:2], noisy[2:])])


def corrective_point(target: np.ndarray, prediction: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A point drawn uniformly from the error region of ``prediction``, labelled to correct it.

    False negatives (in target, not predicted) give a positive point, false positives a negative one. With no
    error, a positive point inside the target is returned.

    Args:
        target: (H, W) bool ground truth.
        prediction: (H, W) bool predicted mask in the same frame.

    Returns:
        ((2,) float64 xy in that frame, label 1 or 0).
    """
    target, prediction = np.asarray(target, dtype=bool), np.asarray(prediction, dtype=bool)
    error = target ^ prediction
    if not error.any():
        return sample_points_in(target, 1, rng)[0], POSITIVE
    point = sample_points_in(error, 1, rng)[0]
    return point, POSITIVE if target[int(point[1]), int(point[0])] else NEGATIVE


def frame_to_original(xy: np.ndarray, original_size: tuple[int, int], target_size: int, frame_size: int) -> np.ndarray:
    """Maps pixel indices of a low-res frame covering the padded model input to original-image pixels.

    The frame (``frame_size``^2, e.g. the 256^2 mask logits) spans the padded ``target_size``^2 input; a cell's
    centre is scaled to the resized image and then by old/new per axis, the inverse of SamProcessor's scaling.

    Args:
        xy: (..., 2) cell indices (x, y) in the frame.
        original_size: (H, W) of the image.
        target_size: the processor's longest edge (the padded input side).
        frame_size: side of the low-res frame.

    Returns:
        (..., 2) float64 xy in original pixels, clipped to the image.
    """
    height, width = int(original_size[0]), int(original_size[1])
    new_h, new_w = preprocess_shape((height, width), target_size)
    resized = (np.asarray(xy, dtype=np.float64) + 0.5) * (target_size / frame_size)
    out = resized * np.array([width / new_w, height / new_h])
    return np.clip(out, 0, np.array([width - 1, height - 1], dtype=np.float64))
