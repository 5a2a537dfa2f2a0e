"""Reading image files for the use cases: EXIF orientation applied, any mode to RGB, and every way a file can be bad
turned into one ``ImageReadError`` with a reason (what a batch run records in errors.jsonl and goes on).

Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, 89.5 M pixels by default) applies: an image above
it is refused before it is decoded, so one file cannot take the worker's memory.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image

from sam_core.image_files import read_rgb

#: Image file extensions a directory walk picks up (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")


class ImageReadError(ValueError):
    """An image that cannot be used; the message is one line: the path and the reason."""


def max_image_pixels() -> int | None:
    """Pillow's decompression-bomb limit in pixels (None: no limit)."""
    return Image.MAX_IMAGE_PIXELS


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file as (H, W, 3) uint8 RGB, with its EXIF orientation applied.

    Grayscale, palette and RGBA images become RGB as Pillow converts them (alpha dropped, as Meta's cv2 reading
    does); 16-bit grayscale is scaled to 8 bits by its maximum.

    Raises:
        ImageReadError: missing, a directory, empty, not an image, truncated or corrupt, zero-sized, or above Pillow's
            decompression-bomb limit.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageReadError(f"image {path} does not exist")
    if os.path.isdir(path):
        raise ImageReadError(f"image {path} is a directory, not an image file")
    if os.path.getsize(path) == 0:
        raise ImageReadError(f"image {path} is empty (0 bytes)")
    return _decode(path, path)


def decode_image(data: bytes, name: str = "upload") -> np.ndarray:
    """Decodes an encoded image held in memory (an upload) as :func:`read_image` reads a file; nothing is written.

    Args:
        data: the file's bytes (any format Pillow reads).
        name: what the error messages call the image.

    Raises:
        ImageReadError: empty, not an image, truncated or corrupt, zero-sized, or above the decompression-bomb limit.
    """
    if not data:
        raise ImageReadError(f"image {name} is empty (0 bytes)")
    return _decode(io.BytesIO(data), name)


def _decode(source: str | io.BytesIO, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a path or an in-memory file, every failure as ImageReadError naming ``name``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            rgb = read_rgb(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageReadError(f"image {name} is too large: {error}") from error
    except (OSError, ValueError, SyntaxError) as error:
        reason = " ".join(str(error).replace(f" {source!r}", "").split()) or type(error).__name__
        raise ImageReadError(f"cannot read image {name}: {reason}") from error
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageReadError(f"image {name} is empty ({rgb.shape[1]}x{rgb.shape[0]})")
    return rgb
