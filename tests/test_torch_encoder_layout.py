"""The torch image encoder's residual stream is row-major channels-last (B, H, W, C) in memory, not a permuted view
of the patch convolution's NCHW output (which every layer norm, linear and window partition would copy first)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sam_torch import SamModel  # noqa: E402
from tests.helpers.sam_weights import tiny_config  # noqa: E402


def test_patch_embeddings_and_every_layer_output_are_contiguous() -> None:
    model = SamModel(tiny_config())
    encoder = model.vision_encoder
    pixels = torch.randn(1, 3, encoder.config.image_size, encoder.config.image_size)
    with torch.inference_mode():
        patches = encoder.patch_embed(pixels)
        _, hidden_states, _ = encoder(pixels, output_hidden_states=True)
    assert patches.is_contiguous(), patches.stride()
    assert all(state.is_contiguous() for state in hidden_states), [state.stride() for state in hidden_states]
