"""Run-length encoding of binary masks, in the COCO layout.

An uncompressed RLE is ``{"size": [H, W], "counts": [...]}``: run lengths over the mask flattened in
column-major (Fortran) order, starting with a run of zeros (which is 0 when the first pixel is set); the counts
are a list, or (inside the mask generator, see column_runs) an unsigned integer array. The
COCO-compressed form, with ``counts`` as a string, is what pycocotools reads and writes.

Shape legend: M masks, H/W mask height and width.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

Rle = dict[str, Any]


def masks_to_rle(masks: np.ndarray) -> list[Rle]:
    """Encodes (M, H, W) boolean masks as uncompressed RLEs."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape (M, H, W), got {masks.shape}")
    count, height, width = masks.shape
    flat = masks.transpose(0, 2, 1).reshape(count, height * width)
    mask_index, pixel = np.nonzero(flat[:, 1:] != flat[:, :-1])
    boundaries = np.split(pixel + 1, np.searchsorted(mask_index, np.arange(1, count)))
    rles = []
    for i in range(count):
        edges = np.concatenate([[0], boundaries[i], [height * width]])
        counts = np.diff(edges).tolist()
        if flat[i, 0]:
            counts = [0, *counts]
        rles.append({"size": [height, width], "counts": counts})
    return rles


def rle_to_mask(rle: Rle) -> np.ndarray:
    """Decodes an uncompressed RLE to an (H, W) boolean mask."""
    height, width = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError(f"RLE counts sum to {counts.sum()}, expected {height * width} for size {rle['size']}")
    values = np.arange(len(counts)) % 2 == 1  # runs alternate zeros, ones, zeros, ...
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def area_from_rle(rle: Rle) -> int:
    """The number of set pixels: the sum of the ones runs (counts a list or an array)."""
    return int(np.sum(np.asarray(rle["counts"])[1::2], dtype=np.int64))


def coco_encode_rle(rle: Rle) -> Rle:
    """Uncompressed RLE -> COCO-compressed RLE with a ``str`` counts field (needs pycocotools)."""
    mask_utils = _pycocotools_mask()
    height, width = rle["size"]
    encoded = mask_utils.frPyObjects(rle, height, width)
    encoded["counts"] = encoded["counts"].decode("utf-8")
    return encoded


def mask_to_coco_rle(mask: np.ndarray) -> Rle:
    """(H, W) boolean mask -> COCO-compressed RLE with a ``str`` counts field (pycocotools' own encoder).

    A Fortran-ordered bool mask (``MaskUpscaler.binarize``'s) is encoded without a copy.
    """
    mask_utils = _pycocotools_mask()
    mask = np.asarray(mask)
    pixels = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    encoded = mask_utils.encode(np.asfortranarray(pixels))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("utf-8")}


def coco_rle_to_mask(rle: Rle) -> np.ndarray:
    """Decodes a COCO-compressed RLE (``str`` or ``bytes`` counts) to an (H, W) boolean mask."""
    mask_utils = _pycocotools_mask()
    counts = rle["counts"]
    rle = {"size": list(rle["size"]), "counts": counts.encode("utf-8") if isinstance(counts, str) else counts}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pycocotools' numpy-2 copy= notice
        return mask_utils.decode(rle).astype(bool)


def _pycocotools_mask():
    try:
        from pycocotools import mask as mask_utils
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("COCO RLE strings need pycocotools: pip install pycocotools") from error
    return mask_utils
