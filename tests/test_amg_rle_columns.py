"""ColumnRle: masks kept as column-major run lengths and decoded a band of columns at a time, from uncompressed
RLE or COCO-compressed strings (read with numpy, checked against pycocotools)."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core.amg.rle import masks_to_rle
from sam_core.amg.rle_columns import ColumnRle, coco_string_counts

mask_utils = pytest.importorskip("pycocotools.mask")


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:37, :29]
    disc = (yy - 20) ** 2 + (xx - 9) ** 2 < 100
    big = np.zeros((1200, 900), dtype=bool)
    big[7:1100, 880:890] = True  # a first run longer than 2**20 (five 5-bit groups)
    return [np.zeros((37, 29), bool), np.ones((37, 29), bool), disc, rng.random((37, 29)) < 0.5, big,
            np.ones((1, 1), bool), np.zeros((3, 1), bool)]  # fmt: skip


def _coco(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


@pytest.mark.parametrize("index", range(7))
def test_coco_strings_decode_to_the_uncompressed_counts(index):
    mask = _masks()[index]
    counts = _coco(mask)["counts"]
    expected = masks_to_rle(mask[None])[0]["counts"]
    np.testing.assert_array_equal(coco_string_counts(counts), expected)
    np.testing.assert_array_equal(coco_string_counts(counts.encode("ascii")), expected)


@pytest.mark.parametrize("index", range(7))
def test_column_bands(index):
    mask = _masks()[index]
    width = mask.shape[1]
    for held in (ColumnRle(_coco(mask)), ColumnRle(masks_to_rle(mask[None])[0]), ColumnRle.from_mask(mask)):
        assert held.shape == mask.shape and held.area == int(mask.sum())
        bands = [(0, width), (0, 0), (width // 2, width), (width // 3, 2 * width // 3 + 1), (width - 1, width)]
        for start, stop in bands:
            band = held.columns(start, stop)
            assert band.dtype == bool and band.shape == (mask.shape[0], stop - start)
            np.testing.assert_array_equal(band, mask[:, start:stop])


def test_rejects_counts_that_do_not_fill_the_mask_and_bad_bands():
    with pytest.raises(ValueError, match="sum to 6"):
        ColumnRle({"size": [2, 3], "counts": [1, 2]})
    with pytest.raises(ValueError, match="ends inside a number"):
        coco_string_counts("1o")  # 'o' (0x3f) announces another 5-bit group that never comes
    with pytest.raises(ValueError, match="outside"):
        ColumnRle({"size": [2, 3], "counts": [6]}).columns(2, 4)
