"""RLE counts packed for holding: the mask generator keeps the RLE of every mask that passes its filters until the box
NMS, however many pass, and unpacks only the masks that the NMS keeps.

The counts are deflated (zlib level 1) as little-endian uint16, or uint32 when a run is longer than 65535. Masks of
real objects have few runs and cost little either way; noisy masks (random weights, textures) have runs of a few
pixels, ~200,000 per mask at 1500 x 2250, and pack to about half a byte a run (4 as uint32, ~8 in a Python list).

Shape legend: R counts of one RLE.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .rle import Rle

#: zlib's fastest level: most of the gain over raw uint16 at a fraction of the time of the default level.
ZLIB_LEVEL = 1


@dataclass(frozen=True)
class PackedRle:
    """One uncompressed RLE with its counts deflated.

    Attributes:
        size: [H, W] of the mask.
        dtype: the counts' packed dtype, "<u2", "<u4" (runs of 2**16 or more) or "<u8" (2**32 or more).
        data: the deflated counts.
    """

    size: tuple[int, int]
    dtype: str
    data: bytes

    @classmethod
    def pack(cls, rle: Rle) -> PackedRle:
        """Packs ``{"size": [H, W], "counts": (R,) non-negative integers}``."""
        counts = np.asarray(rle["counts"])
        longest = int(counts.max()) if len(counts) else 0
        dtype = "<u2" if longest < 2**16 else "<u4" if longest < 2**32 else "<u8"
        data = zlib.compress(counts.astype(dtype).tobytes(), ZLIB_LEVEL)
        return cls(size=(int(rle["size"][0]), int(rle["size"][1])), dtype=dtype, data=data)

    def unpack(self) -> Rle:
        """The RLE, with its counts as a (R,) uint32 array (uint64 for runs of 2**32 pixels or more)."""
        counts = np.frombuffer(zlib.decompress(self.data), dtype=self.dtype)
        counts = counts.astype(np.uint64 if self.dtype == "<u8" else np.uint32)
        return {"size": list(self.size), "counts": counts}

    @property
    def nbytes(self) -> int:
        """The bytes of the packed counts."""
        return len(self.data)
