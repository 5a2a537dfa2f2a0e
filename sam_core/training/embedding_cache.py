"""The image embeddings of a frozen image encoder, computed once per training image (both backends' trainers).

With the image encoder frozen, an image maps to the same embeddings at every epoch, and the encoder is most of a
step's cost (a ViT-B forward is ~1,000x the decoder's FLOPs). Both trainers keep each image's embeddings, keyed by
a hash of its preprocessed pixels, up to a byte budget; images past the budget are encoded again when they come
back. The cache holds whatever the backend's encoder returns per image (a torch tensor or a numpy array).

Only for datasets: the synthetic stream never repeats an image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: The most bytes of embeddings kept (1,000 ViT-B images, 4 MB each).
EMBEDDING_CACHE_BYTES = 1 << 30


def _nbytes(value: Any) -> int:
    """Bytes of one cached embedding: a numpy array's or a torch tensor's ``nbytes``."""
    return int(value.nbytes)


class EmbeddingCache:
    """Per-image embeddings by content, bounded by ``limit_bytes``.

    Attributes:
        encoded: how many images the encoder has been run on (cache misses), for tests and logs.
    """

    def __init__(self, limit_bytes: int = EMBEDDING_CACHE_BYTES) -> None:
        if limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit_bytes}")
        self.limit_bytes = int(limit_bytes)
        self._items: dict[bytes, Any] = {}
        self._bytes = 0
        self.encoded = 0

    def __len__(self) -> int:
        return len(self._items)

    def lookup(self, pixel_values: np.ndarray, encode: Callable[[list[int]], Sequence[Any]]) -> list[Any]:
        """The embeddings of each image of a batch, encoding only the images not kept yet.

        Args:
            pixel_values: (B, 3, S, S) the batch's preprocessed pixels (the cache keys).
            encode: maps positions in the batch (distinct images, in order) to their embeddings, one per position
                (e.g. the rows of the encoder's (n, ...) output).

        Returns:
            B embeddings, in the batch's order (the same object for repeated images).
        """
        keys = [hashlib.sha1(np.ascontiguousarray(row).tobytes()).digest() for row in np.asarray(pixel_values)]
        missing = list(dict.fromkeys(key for key in keys if key not in self._items))  # unique, in order
        fresh: dict[bytes, Any] = {}
        if missing:
            fresh = dict(zip(missing, encode([keys.index(key) for key in missing])))
            self.encoded += len(missing)
            for key, value in fresh.items():
                size = _nbytes(value)
                if self._bytes + size <= self.limit_bytes:
                    self._items[key] = value
                    self._bytes += size
        return [self._items[key] if key in self._items else fresh[key] for key in keys]
