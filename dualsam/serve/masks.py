"""Masks as the API sends them: COCO RLE (what pycocotools reads) and a PNG data URL (what a page draws), and the
low-res logits a client may send back as the next click's ``mask_input``.

Shape legend: H, W image size; L low-res mask side.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib

import numpy as np

#: zlib level of the mask PNGs: 1-bit masks compress well at once; higher levels only cost time per click.
PNG_COMPRESS_LEVEL = 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: IHDR after width and height: bit depth 1, colour type 0 (grey), deflate, adaptive filtering, no interlace.
PNG_1BIT_GREY = bytes([1, 0, 0, 0, 0])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_data_url(mask: np.ndarray) -> str:
    """(H, W) bool mask -> ``data:image/png;base64,...`` of a 1-bit greyscale PNG (white where set).

    Written directly (rows packed 8 pixels a byte, most significant bit first, each after filter byte 0, deflated
    at PNG_COMPRESS_LEVEL): Pillow's encoder takes ~10x as long for the same image, which a click pays per mask.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or 0 in mask.shape:
        raise ValueError(f"mask must be a non-empty (H, W) array, got shape {mask.shape}")
    height, width = mask.shape
    rows = np.zeros((height, 1 + (width + 7) // 8), dtype=np.uint8)  # column 0: filter type 0 (none)
    rows[:, 1:] = np.packbits(np.ascontiguousarray(mask), axis=1)  # row-major first: a binarized mask is not
    png = b"".join([
        PNG_SIGNATURE,
        _png_chunk(b"IHDR", struct.pack(">II", width, height) + PNG_1BIT_GREY),
        _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), PNG_COMPRESS_LEVEL)),
        _png_chunk(b"IEND", b""),
    ])  # fmt: skip
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


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
