"""Image files as RGB arrays: the one conversion shared by the training datasets and the application's reader."""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import PIL.ImageOps


def open_oriented(path: str | os.PathLike[str]) -> PIL.Image.Image:
    """Opens an image file fully loaded and turned to its display orientation (EXIF orientation applied)."""
    with PIL.Image.open(path) as image:
        return PIL.ImageOps.exif_transpose(image)


def pil_to_rgb(image: PIL.Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PIL image: grayscale, palette and RGBA become RGB as Pillow converts them (alpha
    dropped, as Meta's cv2 reading does); 16-bit or float grayscale is scaled to 8 bits by its maximum when that
    exceeds 255."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # Pillow warns when a transparent palette goes to RGB directly
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = float(array.max()) if array.size else 0.0
        image = PIL.Image.fromarray(np.clip(array / top * 255 if top > 255 else array, 0, 255).astype(np.uint8))
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads an image file as (H, W, 3) uint8 RGB in display orientation."""
    return pil_to_rgb(open_oriented(path))
