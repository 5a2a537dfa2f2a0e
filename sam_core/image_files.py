"""Image files as RGB arrays: the one conversion shared by the training datasets and the application's reader."""

from __future__ import annotations

import os
from typing import IO

import numpy as np
import PIL.Image
import PIL.ImageOps

#: The EXIF Orientation tag.
EXIF_ORIENTATION = 0x0112
#: Bytes of one strip of rows copied out of a PIL image by :func:`pil_to_array`.
STRIP_BYTES = 4 * 2**20


def open_oriented(path: str | os.PathLike[str]) -> PIL.Image.Image:
    """Opens an image file fully loaded and turned to its display orientation (EXIF orientation applied)."""
    with PIL.Image.open(path) as image:
        return PIL.ImageOps.exif_transpose(image)


def _oriented(image: PIL.Image.Image) -> PIL.Image.Image:
    """``exif_transpose`` without its full-size copy when the image is already upright."""
    return image if image.getexif().get(EXIF_ORIENTATION, 1) == 1 else PIL.ImageOps.exif_transpose(image)


def pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    """A PIL image as a new numpy array (what ``np.asarray(image)`` gives), copied a strip of rows at a time.

    ``np.asarray(image)`` goes through ``image.tobytes()``, which holds the pixels twice more (its encoded chunks and
    their join) next to PIL's own copy; strips keep that overhead to STRIP_BYTES.

    Returns:
        (H, W) or (H, W, C) array of the image's dtype.
    """
    width, height = image.size
    first = np.asarray(image.crop((0, 0, width, min(1, height))))
    out = np.empty((height, *first.shape[1:]), dtype=first.dtype)
    rows = max(1, STRIP_BYTES // max(1, first.nbytes))
    for top in range(0, height, rows):
        out[top : top + rows] = np.asarray(image.crop((0, top, width, min(top + rows, height))))
    return out


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
    return pil_to_array(image if image.mode == "RGB" else image.convert("RGB"))


def read_rgb(path: str | os.PathLike[str] | IO[bytes]) -> np.ndarray:
    """Reads an image file as (H, W, 3) uint8 RGB in display orientation (peak memory: PIL's decoded image and
    the array)."""
    with PIL.Image.open(path) as image:
        return pil_to_rgb(_oriented(image))
