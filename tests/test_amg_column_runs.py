"""sam_core.amg.column_runs: runs, boxes, areas and image-frame RLE straight from padded column masks equal those of
the whole-mask functions (masks_to_rle of the uncropped mask, masks_to_boxes)."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core.amg.column_runs import column_runs, padded_columns
from sam_core.amg.filtering import uncrop_masks
from sam_core.amg.rle import area_from_rle, masks_to_rle, rle_to_mask
from sam_core.amg.scoring import masks_to_boxes

IMAGE = (23, 31)
#: XYXY crops of the 31 x 23 image: the whole image, full-height (runs join across columns), inner, corners.
CROPS = [(0, 0, 31, 23), (5, 0, 17, 23), (4, 6, 20, 15), (0, 0, 9, 7), (20, 12, 31, 23)]


def _masks(height: int, width: int) -> np.ndarray:
    """Blobs, noise, empty, full, one pixel at each corner, and whole set / unset columns."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:height, :width]
    blobs = [
        (yy - rng.uniform(0, height)) ** 2 + (xx - rng.uniform(0, width)) ** 2 < rng.uniform(4, 60) for _ in range(4)
    ]
    corners = []
    for y, x in ((0, 0), (height - 1, width - 1), (0, width - 1), (height - 1, 0)):
        corner = np.zeros((height, width), dtype=bool)
        corner[y, x] = True
        corners.append(corner)
    stripes = np.zeros((height, width), dtype=bool)
    stripes[:, 1::3] = True
    return np.stack([*blobs, rng.random((height, width)) < 0.5, np.zeros((height, width), bool),
                     np.ones((height, width), bool), *corners, stripes, ~stripes])  # fmt: skip


@pytest.mark.parametrize("crop", CROPS)
def test_runs_give_the_rle_box_and_area_of_the_uncropped_mask(crop):
    x0, y0, x1, y1 = crop
    masks = _masks(y1 - y0, x1 - x0)
    columns = padded_columns(len(masks), masks.shape[1:])
    columns[:, :, 1:-1] = masks.transpose(0, 2, 1)
    expected = masks_to_rle(uncrop_masks(masks, crop, IMAGE))
    boxes = masks_to_boxes(masks)
    for index, runs in enumerate(column_runs(columns)):
        counts = runs.counts(crop, IMAGE)
        assert counts.dtype == np.uint32
        assert counts.tolist() == expected[index]["counts"], index
        np.testing.assert_array_equal(runs.box(), boxes[index])
        assert runs.area == int(masks[index].sum()) == area_from_rle({"size": list(IMAGE), "counts": counts})
        decoded = rle_to_mask({"size": list(IMAGE), "counts": counts})
        np.testing.assert_array_equal(decoded[y0:y1, x0:x1], masks[index])


def test_no_masks():
    assert column_runs(padded_columns(0, (4, 5))) == []
