"""A mask kept as run lengths and decoded a band of columns at a time (bounded memory for large images).

COCO RLE runs over the mask flattened in column-major order, so a band of whole columns is one contiguous range
of that order: decoding it touches only the runs that overlap it. COCO-compressed ``counts`` strings are read
with numpy (the inverse of pycocotools' ``rleToString``), so no full-size mask is ever decoded.

Shape legend: H/W mask height and width, B band width (columns), R runs.
"""

from __future__ import annotations

import numpy as np

from .rle import Rle, masks_to_rle


def coco_string_counts(counts: str | bytes) -> np.ndarray:
    """Decodes a COCO-compressed ``counts`` string to (R,) int64 run lengths (pycocotools' ``rleFrString``).

    Each number is written in 5-bit groups, least significant first, as characters ``48 + group`` with bit 0x20
    set on all but the last group and bit 0x10 of the last group the sign; from the third number on, the number
    is stored as a difference to the one two places earlier.
    """
    raw = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    chars = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if not len(chars):
        return np.zeros(0, dtype=np.int64)
    last = np.flatnonzero((chars & 0x20) == 0)  # the final character of each number
    if not len(last) or last[-1] != len(chars) - 1:
        raise ValueError("COCO RLE counts string ends inside a number")
    first = np.concatenate([[0], last[:-1] + 1])
    position = np.arange(len(chars)) - np.repeat(first, last - first + 1)
    values = np.add.reduceat((chars & 0x1F) << (5 * position), first)
    negative = (chars[last] & 0x10) != 0
    values[negative] |= -1 << (5 * (last - first + 1))[negative]
    values[1::2] = np.cumsum(values[1::2])  # x[i] += x[i - 2] for i > 2, per parity
    values[2::2] = np.cumsum(values[2::2])
    return values


class ColumnRle:
    """An (H, W) mask held as column-major run lengths; :meth:`columns` decodes a band of columns.

    Args:
        rle: ``{"size": [H, W], "counts": ...}`` with run lengths (list or array; uncompressed RLE) or a
            COCO-compressed ``str`` / ``bytes``.
    """

    def __init__(self, rle: Rle) -> None:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
        runs = coco_string_counts(counts) if isinstance(counts, (str, bytes)) else np.asarray(counts, np.int64)
        self.shape = (height, width)
        self._ends = np.cumsum(runs)
        if (len(runs) and runs.min() < 0) or (self._ends[-1] if len(runs) else 0) != height * width:
            raise ValueError(f"RLE counts must be non-negative and sum to {height * width} for size {[height, width]}")
        self._starts = self._ends - runs

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> ColumnRle:
        """Encodes an (H, W) mask (any dtype; nonzero is set)."""
        return cls(masks_to_rle(np.asarray(mask, dtype=bool)[None])[0])

    @property
    def area(self) -> int:
        """The number of set pixels."""
        return int((self._ends[1::2] - self._starts[1::2]).sum())

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Columns ``start:stop`` of the mask, as an (H, B) bool array (a transposed view)."""
        height, width = self.shape
        if not 0 <= start <= stop <= width:
            raise ValueError(f"columns {start}:{stop} outside a mask {width} wide")
        low, high = start * height, stop * height
        if low == high:
            return np.zeros((height, stop - start), dtype=bool)
        first = int(np.searchsorted(self._ends, low, side="right"))
        last = int(np.searchsorted(self._ends, high, side="left")) + 1
        lengths = np.minimum(self._ends[first:last], high) - np.maximum(self._starts[first:last], low)
        values = np.arange(first, last) % 2 == 1  # runs alternate zeros, ones, zeros, ...
        return np.repeat(values, lengths).reshape(stop - start, height).T
