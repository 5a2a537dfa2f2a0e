"""Mask upscaling against torch's two-step bilinear post-processing (Meta's postprocess_masks)."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core.amg import MaskUpscaler
from sam_core.image_transforms import bilinear_matrix, preprocess_shape

torch = pytest.importorskip("torch")
F = torch.nn.functional

#: Float32 rounding of the same interpolation (torch fuses the source-index multiply-add; so do we).
UPSCALE_ATOL = 1e-5


def _torch_postprocess(low_res: np.ndarray, input_size, original_size) -> np.ndarray:
    masks = F.interpolate(torch.from_numpy(low_res), (1024, 1024), mode="bilinear", align_corners=False)
    masks = masks[..., : input_size[0], : input_size[1]]
    return F.interpolate(masks, original_size, mode="bilinear", align_corners=False).numpy()


@pytest.mark.parametrize("original", [(90, 130), (1, 7), (400, 300), (1500, 1497), (1024, 683), (17, 2000)])
def test_matches_torch(original):
    low_res = np.random.default_rng(0).normal(0, 4, (2, 3, 256, 256)).astype(np.float32)
    input_size = preprocess_shape(original, 1024)
    ours = MaskUpscaler(input_size, original)(low_res)
    reference = _torch_postprocess(low_res, input_size, original)
    assert ours.shape == reference.shape == (2, 3, *original)
    np.testing.assert_allclose(ours, reference, atol=UPSCALE_ATOL, rtol=0)


def test_bilinear_matrix_rows_are_convex():
    for in_size, out_size in [(256, 1024), (1024, 90), (683, 1500), (5, 5)]:
        matrix = bilinear_matrix(in_size, out_size)
        assert (matrix >= 0).all()
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-7)


def test_rejects_wrong_low_res_shape():
    with pytest.raises(ValueError, match="256"):
        MaskUpscaler((1024, 768), (40, 30))(np.zeros((1, 128, 128), np.float32))
