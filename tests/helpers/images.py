"""Test images: smooth gradients with a bright ellipse and a dark rectangle, not noise only."""

from __future__ import annotations

import numpy as np


def synthetic_image(height: int, width: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A uint8 (H, W, C) image with gradients, a bright ellipse and a dark rectangle (not noise only)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width, yy / height, (xx + yy) / (width + height)], axis=-1) * 160
    ellipse = ((xx - 0.4 * width) / (0.2 * width)) ** 2 + ((yy - 0.5 * height) / (0.25 * height)) ** 2 < 1
    base[ellipse] = [230, 200, 40]
    base[int(0.1 * height) : int(0.3 * height), int(0.6 * width) : int(0.9 * width)] = [20, 30, 90]
    base += rng.normal(0, 6, base.shape)
    image = np.clip(base, 0, 255).astype(np.uint8)
    if channels == 1:
        return image.mean(axis=-1).astype(np.uint8)
    if channels == 4:
        alpha = np.full((height, width, 1), 255, np.uint8)
        return np.concatenate([image, alpha], axis=-1)
    return image
