"""Hole and island removal: scipy's connected components against Meta's OpenCV version (run in .venv-meta),
and the NMS re-run of postprocess_small_regions."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core.amg import masks_to_boxes, masks_to_rle, postprocess_small_regions, remove_small_regions, rle_to_mask
from tests.oracles.meta_runner import META_SKIP_REASON, meta_available, run_meta_functions

pytest.importorskip("scipy")


def _speckled_masks(count: int = 6, height: int = 41, width: int = 57) -> np.ndarray:
    """Blobs with pepper holes, diagonal-only neighbours (8- vs 4-connectivity matters) and small islands."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    masks = np.zeros((count, height, width), dtype=bool)
    for k in range(count):
        cy, cx, r = rng.uniform(10, 30), rng.uniform(15, 40), rng.uniform(6, 14)
        masks[k] = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        masks[k] ^= rng.random((height, width)) < 0.03  # holes inside, specks outside
    masks[0, 1, 1] = masks[0, 2, 2] = True  # a diagonal pair: one island under 8-connectivity
    masks[1] = False
    masks[1, 3:5, 3:5] = masks[1, 20:23, 30:33] = True  # only small islands: the largest stays
    return masks


def test_holes_and_islands_semantics():
    mask = np.zeros((20, 20), dtype=bool)
    mask[2:18, 2:18] = True
    mask[8:10, 8:10] = False  # a 4-pixel hole
    mask[0, 0] = True  # a 1-pixel island
    filled, changed = remove_small_regions(mask, 5, "holes")
    assert changed and filled[8:10, 8:10].all() and filled[0, 0]
    cleaned, changed = remove_small_regions(filled, 5, "islands")
    assert changed and not cleaned[0, 0] and cleaned[2:18, 2:18].all()
    same, changed = remove_small_regions(cleaned, 5, "islands")
    assert not changed and (same == cleaned).all()
    with pytest.raises(ValueError, match="holes"):
        remove_small_regions(mask, 5, "blobs")


@pytest.mark.skipif(not meta_available(), reason=META_SKIP_REASON)
def test_matches_meta_opencv(tmp_path):
    masks = _speckled_masks()
    cases = [(area, mode) for area in (1, 3, 10, 60) for mode in ("holes", "islands")]
    tasks = [
        ({"kind": "small_regions", "name": f"{mode}{area}", "area": area, "mode": mode}, {"masks": masks})
        for area, mode in cases
    ]
    reference = run_meta_functions(str(tmp_path), tasks)
    for area, mode in cases:
        results = [remove_small_regions(mask, area, mode) for mask in masks]
        np.testing.assert_array_equal(np.stack([m for m, _ in results]), reference[f"{mode}{area}/masks"])
        assert [c for _, c in results] == reference[f"{mode}{area}/changed"].tolist()


def test_postprocess_small_regions_prefers_unchanged_masks():
    base = np.zeros((30, 30), dtype=bool)
    base[5:25, 5:25] = True
    speckled = base.copy()
    speckled[0, 29] = True  # an island: cleaning changes this mask into a copy of ``base``
    other = np.zeros((30, 30), dtype=bool)
    other[0:4, 0:4] = True
    masks = np.stack([speckled, base, other])
    rles = masks_to_rle(masks)
    keep, new_rles, boxes = postprocess_small_regions(rles, masks_to_boxes(masks), 3, 0.7)
    assert keep.tolist() == [1, 2]  # the unchanged duplicate wins; NMS order: unchanged masks first
    np.testing.assert_array_equal(rle_to_mask(new_rles[1]), base)
    assert postprocess_small_regions([], np.zeros((0, 4)), 3, 0.7)[0].tolist() == []


def test_postprocess_small_regions_reencodes_kept_changed_masks():
    mask = np.zeros((30, 30), dtype=bool)
    mask[5:25, 5:25] = True
    mask[10, 10] = False  # a hole
    keep, rles, boxes = postprocess_small_regions(masks_to_rle(mask[None]), masks_to_boxes(mask[None]), 3, 0.7)
    assert keep.tolist() == [0]
    assert rle_to_mask(rles[0])[10, 10]
    assert boxes[0].tolist() == [5, 5, 24, 24]
