"""Named tolerances of the parity suite and the comparison helpers that apply them."""

from __future__ import annotations

import numpy as np

from sam_core.tensors import to_numpy

#: Preprocessed pixels: both sides run the same PIL resize and float32 arithmetic.
PIXEL_ATOL = 1e-6
#: Model outputs (mask logits, IoU, embeddings), relative to max(1, max|ref|): fp32 accumulation order differs.
OUTPUT_RTOL = 1e-4
#: Post-processed binary masks: pixels whose logit sits within rounding of the threshold may flip.
MASK_AGREEMENT = 0.9999


def max_abs_diff(ours, reference) -> float:
    return float(np.max(np.abs(to_numpy(ours).astype(np.float64) - to_numpy(reference).astype(np.float64))))


def assert_outputs_close(ours, reference, rtol: float = OUTPUT_RTOL, name: str = "output") -> float:
    """max|ours - ref| <= rtol * max(1, max|ref|); returns the measured max|Δ|."""
    ref = to_numpy(reference)
    bound = rtol * max(1.0, float(np.max(np.abs(ref)))) if ref.size else rtol
    diff = max_abs_diff(ours, reference)
    assert diff <= bound, f"{name}: max|Δ| = {diff:.3g} > {bound:.3g}"
    return diff


def assert_masks_agree(ours, reference, fraction: float = MASK_AGREEMENT) -> float:
    """Binary masks equal on at least ``fraction`` of pixels; returns the agreement."""
    a, b = to_numpy(ours).astype(bool), to_numpy(reference).astype(bool)
    assert a.shape == b.shape, (a.shape, b.shape)
    agreement = float(np.mean(a == b))
    assert agreement >= fraction, f"masks agree on {agreement:.6f} of pixels < {fraction}"
    return agreement
