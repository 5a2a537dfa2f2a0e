"""Masks as the API sends them: COCO RLE (what pycocotools reads) and a PNG data URL (what a page draws), and the
low-res logits a client may send back as the next click's ``mask_input``.

Shape legend: H, W image size; L low-res mask side.
"""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np
from PIL import Image

#: zlib level of the mask PNGs: 1-bit masks compress well at once; higher levels only cost time per click.
PNG_COMPRESS_LEVEL = 1


def png_data_url(mask: np.ndarray) -> str:
    """(H, W) bool mask -> ``data:image/png;base64,...`` of a 1-bit PNG (white where set)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=bool)).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def encode_logits(logits: np.ndarray) -> str:
    """(L, L) float32 low-res logits -> base64 of their little-endian float32 bytes (row-major)."""
    return base64.b64encode(np.ascontiguousarray(logits, dtype="<f4").tobytes()).decode("ascii")


def decode_logits(text: str, side: int) -> np.ndarray:
    """base64 float32 logits (from :func:`encode_logits`) -> (1, L, L) float32 ``mask_input``.

    Raises:
        ValueError: naming ``mask_input``: not base64, the wrong size, or NaN / infinite values.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"mask_input is not base64: {error}") from error
    if len(raw) != 4 * side * side:
        raise ValueError(f"mask_input must hold {side}x{side} float32 values ({4 * side * side} bytes), got {len(raw)}")
    logits = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(1, side, side)
    if not np.isfinite(logits).all():
        raise ValueError("mask_input contains NaN or infinite values")
    return logits
