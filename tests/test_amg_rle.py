"""RLE: round trips, Meta's counts layout, and COCO-compressed strings against pycocotools."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core.amg import area_from_rle, coco_encode_rle, coco_rle_to_mask, masks_to_rle, rle_to_mask

mask_utils = pytest.importorskip("pycocotools.mask")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools + numpy 2


def _masks(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    masks = rng.random((count, height, width)) < rng.uniform(0.05, 0.95, (count, 1, 1))
    masks[0] = False
    masks[1] = True
    masks[2] = False
    masks[2, 0, 0] = True  # first pixel set: counts start with a zero-length run of zeros
    masks[3] = False
    masks[3, -1, -1] = True
    return masks


def test_round_trip_and_layout():
    masks = _masks(8, 13, 29)
    rles = masks_to_rle(masks)
    for mask, rle in zip(masks, rles):
        assert rle["size"] == [13, 29]
        assert sum(rle["counts"]) == 13 * 29
        np.testing.assert_array_equal(rle_to_mask(rle), mask)
        assert area_from_rle(rle) == int(mask.sum())
    assert rles[0]["counts"] == [13 * 29]
    assert rles[1]["counts"] == [0, 13 * 29]
    assert rles[2]["counts"][:2] == [0, 1]
    assert rles[3]["counts"] == [13 * 29 - 1, 1]


def test_column_major_order():
    mask = np.zeros((3, 4), dtype=bool)
    mask[1, 0] = True  # column-major position 1
    mask[0, 1] = True  # column-major position 3
    assert masks_to_rle(mask[None])[0]["counts"] == [1, 1, 1, 1, 8]


def test_uncompressed_rle_matches_pycocotools():
    masks = _masks(6, 21, 17, seed=1)
    for mask, rle in zip(masks, masks_to_rle(masks)):
        reference = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        ours = mask_utils.frPyObjects(rle, *rle["size"])
        assert ours["counts"] == reference["counts"]
        np.testing.assert_array_equal(mask_utils.decode(ours).astype(bool), mask)


def test_coco_strings_are_read_by_pycocotools():
    masks = _masks(5, 31, 40, seed=2)
    for mask, rle in zip(masks, masks_to_rle(masks)):
        coco = coco_encode_rle(rle)
        assert isinstance(coco["counts"], str) and coco["size"] == [31, 40]
        assert coco["counts"] == mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()
        decoded = mask_utils.decode({"size": coco["size"], "counts": coco["counts"].encode()})
        np.testing.assert_array_equal(decoded.astype(bool), mask)
        np.testing.assert_array_equal(coco_rle_to_mask(coco), mask)
        assert int(mask_utils.area({"size": coco["size"], "counts": coco["counts"].encode()})) == area_from_rle(rle)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(M, H, W\)"):
        masks_to_rle(np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="sum to"):
        rle_to_mask({"size": [2, 2], "counts": [1, 1]})
