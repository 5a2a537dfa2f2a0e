"""The embedding cache: uploaded images and their encoder outputs, least recently used first out, bounded in bytes.

An image's id is a content hash of its decoded pixels, so uploading the same picture twice finds the embedding that
is already there. Shape legend: H, W image size; C, g embedding channels and grid.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Hex digits of an image id (a truncated SHA-256: 128 bits).
ID_LENGTH = 32


def image_id(rgb: np.ndarray) -> str:
    """The content hash of (H, W, 3) uint8 pixels: SHA-256 over the shape and the bytes, as ID_LENGTH hex digits."""
    digest = hashlib.sha256(f"{rgb.shape[0]}x{rgb.shape[1]}:".encode())
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()[:ID_LENGTH]


@dataclass(frozen=True)
class CachedImage:
    """One uploaded image, ready for prompts.

    Attributes:
        image_id: the content hash.
        rgb: (H, W, 3) uint8 pixels (segment-everything runs on them).
        embedding: (1, C, g, g) image embedding in the backend's native kind.
        nbytes: the bytes this entry holds (pixels and embedding).
    """

    image_id: str
    rgb: np.ndarray
    embedding: Any
    nbytes: int

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


class EntryTooLargeError(ValueError):
    """An entry larger than the whole cache."""


class EmbeddingCache:
    """Thread-safe LRU of CachedImage entries holding at most ``limit_bytes`` in total.

    Args:
        limit_bytes: the budget; inserting past it evicts the least recently used entries.
    """

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"limit_bytes must be positive, got {limit_bytes}")
        self.limit_bytes = int(limit_bytes)
        self._entries: OrderedDict[str, CachedImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: str) -> CachedImage | None:
        """The entry of ``key`` (now the most recently used), or None when absent or evicted."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, entry: CachedImage) -> list[str]:
        """Inserts ``entry`` (replacing one of the same id) and evicts until the budget holds.

        Returns:
            The ids evicted.

        Raises:
            EntryTooLargeError: the entry alone exceeds the budget.
        """
        if entry.nbytes > self.limit_bytes:
            raise EntryTooLargeError(
                f"the image needs {entry.nbytes / 2**20:.1f} MiB of cache, more than the whole cache "
                f"({self.limit_bytes / 2**20:.1f} MiB, --cache-mb)"
            )
        evicted = []
        with self._lock:
            old = self._entries.pop(entry.image_id, None)
            self._bytes -= old.nbytes if old is not None else 0
            while self._entries and self._bytes + entry.nbytes > self.limit_bytes:
                key, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
                evicted.append(key)
            self._entries[entry.image_id] = entry
            self._bytes += entry.nbytes
            self.evictions += len(evicted)
        return evicted

    def stats(self) -> dict[str, int]:
        """Entries, bytes held, the budget and evictions so far."""
        with self._lock:
            return {
                "images": len(self._entries),
                "bytes": self._bytes,
                "limit_bytes": self.limit_bytes,
                "evictions": self.evictions,
            }

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries
