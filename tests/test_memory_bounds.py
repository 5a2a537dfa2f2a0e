"""Per-image memory stays bounded: predicting and drawing masks on a large image holds nothing full-size but the
(K, H, W) bool masks (which the API returns) and fixed-size working pieces; and the pieces give the same results.

Peak memory is measured with tracemalloc, which sees numpy's array allocations (not Pillow's image memory).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dualsam import overlay
from sam_core.amg import upscale
from sam_core.amg.filtering import upscale_columns_and_stability
from sam_core.amg.rle_columns import ColumnRle
from sam_core.amg.scoring import stability_from_counts, stability_score
from sam_core.image_transforms import preprocess_shape
from sam_core.predictor import SamPredictor
from tests.helpers.images import synthetic_image
from tests.oracles.meta_runner import tiny_model

HEIGHT, WIDTH = 2000, 3000
#: Working budgets for the measured run: small next to H * W, so that the bound below is a small multiple of it.
SMALL_BUDGET = 2**20
#: float32 rounding of logits of magnitude ~16 summed in another order (a few ulps of 2e-6).
ROUNDING_ATOL = 1e-4
#: float32 rounding of MaskUpscaler.column_chunks against __call__ (the same products summed by BLAS in another
#: order: a few ulps of logits of magnitude ~16).
COLUMN_ROUNDING = 1e-5
#: Slack for small allocations (prompts, low-res logits, index arrays, Python objects).
SLACK_BYTES = 2**20


@pytest.fixture(scope="module")
def predictor():
    """A tiny-model predictor with a HEIGHT x WIDTH image set and its upscaler built (sizes O(H + W), not H * W)."""
    predictor = SamPredictor(tiny_model()[0])
    predictor.set_image(synthetic_image(HEIGHT, WIDTH))
    assert predictor.upscaler is not None
    return predictor


def test_predict_and_overlay_peak_memory(predictor, monkeypatch):
    """Bound: the K bool masks (K * H * W bytes, returned by predict) plus the working pieces. Upscaling holds one
    piece of float32 logits (CHUNK_BYTES) and its gathered rows (W / 256 times fewer values, with a temporary);
    the overlay holds one band of float32 state (BAND_BYTES) and at most four band-sized temporaries (the fill's
    gather, product and sum, or the rounding's rint, clip and uint8 copy) plus bool band masks. Before bounded
    pieces, predict alone held (K, H, W) float32 logits (4 K H W bytes) and the overlay three (H, W, 3) float32
    arrays (36 H W bytes): this run then peaks above 40 H W bytes, here it stays near K + 1."""
    monkeypatch.setattr(upscale, "CHUNK_BYTES", SMALL_BUDGET)
    monkeypatch.setattr(overlay, "BAND_BYTES", SMALL_BUDGET)
    image = synthetic_image(HEIGHT, WIDTH, seed=1)
    points, labels = np.array([[WIDTH * 0.4, HEIGHT * 0.5]]), np.array([1])
    tracemalloc.start()
    try:
        masks, _, _ = predictor.predict(point_coords=points, point_labels=labels, multimask_output=True)
        overlay.render_overlay(image, list(masks), points, labels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    pixels = HEIGHT * WIDTH
    assert masks.shape == (3, HEIGHT, WIDTH) and masks.dtype == bool
    bound = masks.nbytes + 1.25 * upscale.CHUNK_BYTES + 5 * overlay.BAND_BYTES + SLACK_BYTES
    assert bound < 5 * pixels
    assert peak <= bound, f"peak {peak / pixels:.2f} bytes per pixel, bound {bound / pixels:.2f}"


def _upscaler(size: tuple[int, int]) -> upscale.MaskUpscaler:
    return upscale.MaskUpscaler(preprocess_shape(size, 1024), size)


def _logits(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 4, (count, 256, 256)).astype(np.float32)


@pytest.mark.parametrize("size", [(45, 67), (400, 300), (17, 2000)])
def test_pieces_of_whole_masks_are_bit_identical(size, monkeypatch):
    """Masks that fit a piece are upscaled exactly as by ``__call__`` (grouped or one by one)."""
    upscaler, logits = _upscaler(size), _logits(5)
    reference = upscaler(logits)
    for budget in (upscale.CHUNK_BYTES, 4 * size[0] * size[1]):
        monkeypatch.setattr(upscale, "CHUNK_BYTES", budget)
        seen = np.zeros(len(logits), dtype=np.int64)
        for masks, rows, values in upscaler.chunks(logits):
            assert rows == slice(0, size[0])
            np.testing.assert_array_equal(values, reference[masks])
            seen[masks] += 1
        assert (seen == 1).all()


@pytest.mark.parametrize("size", [(45, 67), (400, 300), (17, 2000), (300, 17)])
@pytest.mark.parametrize("budget", [upscale.CHUNK_BYTES, 1])
def test_binarize_gives_the_masks_column_major(size, budget, monkeypatch):
    """binarize (banded column blocks) gives ``__call__``'s masks, up to pixels within float32 rounding of the
    threshold (the same non-zero products summed by BLAS in another order), each mask Fortran-ordered (RLE's
    order); leading axes are kept."""
    upscaler, logits = _upscaler(size), _logits(6).reshape(2, 3, 256, 256)
    monkeypatch.setattr(upscale, "CHUNK_BYTES", budget)
    reference = upscaler(logits)
    binary = upscaler.binarize(logits, 0.5)
    assert binary.shape == (2, 3, *size) and binary.dtype == bool
    assert binary[1, 2].flags.f_contiguous
    decided = np.abs(reference - 0.5) > COLUMN_ROUNDING
    assert decided.mean() > 0.99
    np.testing.assert_array_equal(binary[decided], reference[decided] > 0.5)


@pytest.mark.parametrize("size", [(45, 67), (400, 300), (17, 2000), (300, 17)])
@pytest.mark.parametrize("budget", [upscale.CHUNK_BYTES, 1])
def test_column_pieces_give_the_masks_and_scores(size, budget, monkeypatch):
    """The generator's transposed blocks (one mask, MIN_CHUNK_ROWS columns a piece at the smallest budget) give
    the binarized masks and stability scores of ``__call__``, up to pixels within float32 rounding of a threshold."""
    upscaler, logits = _upscaler(size), _logits(5)
    monkeypatch.setattr(upscale, "CHUNK_BYTES", budget)
    reference = upscaler(logits)
    columns, stability = upscale_columns_and_stability(upscaler, logits, 0.0, 1.0)
    assert columns.shape == (5, size[1], size[0] + 2)
    assert not columns[:, :, [0, -1]].any()
    decided = np.abs(reference) > COLUMN_ROUNDING
    np.testing.assert_array_equal(columns[:, :, 1:-1].transpose(0, 2, 1)[decided], reference[decided] > 0.0)
    counts = {}
    for name, threshold in (("inner", 1.0), ("outer", -1.0)):
        sure = np.count_nonzero(reference > threshold + COLUMN_ROUNDING, axis=(1, 2))
        counts[name] = (sure, sure + np.count_nonzero(np.abs(reference - threshold) <= COLUMN_ROUNDING, axis=(1, 2)))
    assert (stability >= stability_from_counts(counts["inner"][0], counts["outer"][1])).all()  # float32, as scored
    assert (stability <= stability_from_counts(counts["inner"][1], counts["outer"][0])).all()
    exact = (counts["inner"][0] == counts["inner"][1]) & (counts["outer"][0] == counts["outer"][1])
    np.testing.assert_array_equal(stability[exact], stability_score(reference, 0.0, 1.0)[exact])


def test_row_bands_cover_every_pixel_once(monkeypatch):
    """Masks larger than a piece come in equal row bands; values agree with ``__call__`` up to BLAS rounding."""
    size = (300, 250)
    upscaler, logits = _upscaler(size), _logits(2, seed=1)
    monkeypatch.setattr(upscale, "CHUNK_BYTES", 4 * 250 * 64)
    reference = upscaler(logits)
    seen = np.zeros((2, *size), dtype=np.int64)
    for masks, rows, values in upscaler.chunks(logits):
        assert values.shape == (masks.stop - masks.start, rows.stop - rows.start, size[1])
        assert upscale.MIN_CHUNK_ROWS // 2 <= values.shape[1] <= 64
        np.testing.assert_allclose(values, reference[masks, rows], rtol=0, atol=ROUNDING_ATOL)
        seen[masks, rows] += 1
    assert (seen == 1).all()
    binary = upscaler.binarize(logits, 0.0)
    decided = np.abs(reference) > ROUNDING_ATOL  # pixels within rounding of the threshold may flip
    np.testing.assert_array_equal(binary[decided], reference[decided] > 0.0)


@pytest.mark.parametrize("budget", [1, 12 * 45 * 3, 8 * 2**20])
def test_overlay_bands_give_the_whole_image_blend(budget, monkeypatch):
    """Bands of 1, 3 or all columns (outlines across band edges included); arrays, run lengths or a generator."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (45, 67, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:45, :67]
    discs = [(rng.uniform(0, 45), rng.uniform(0, 67), rng.uniform(3, 30)) for _ in range(6)]
    masks = [(yy - y) ** 2 + (xx - x) ** 2 < r**2 for y, x, r in discs]
    masks.append(rng.random((45, 67)) < 0.5)
    whole = overlay.blend_masks(image, masks)
    monkeypatch.setattr(overlay, "BAND_BYTES", budget)
    np.testing.assert_array_equal(overlay.blend_masks(image, masks), whole)
    np.testing.assert_array_equal(overlay.blend_masks(image, (m for m in masks)), whole)
    np.testing.assert_array_equal(overlay.blend_masks(image, [ColumnRle.from_mask(m) for m in masks]), whole)
    np.testing.assert_array_equal(np.asarray(overlay.blend_image(image, masks)), whole)
    # The whole-image arithmetic, pixel by pixel: fill then opaque outline, rounded once at the end.
    colors = overlay.mask_colors(len(masks)).astype(np.float32)
    expected = image.astype(np.float32)
    for mask, color in zip(masks, colors):
        expected[mask] = (1.0 - overlay.MASK_ALPHA) * expected[mask] + overlay.MASK_ALPHA * color
        expected[overlay._outline(mask)] = color
    np.testing.assert_array_equal(whole, np.clip(np.rint(expected), 0, 255).astype(np.uint8))


def test_overlay_rejects_a_mask_of_another_size():
    with pytest.raises(ValueError, match="mask 1 has shape"):
        overlay.blend_masks(np.zeros((4, 5, 3), np.uint8), [np.zeros((4, 5), bool), np.zeros((5, 4), bool)])
