"""Informative random SAM weights for the parity suite.

transformers' default init makes SAM's outputs ~1e-19, so every comparison would pass trivially. These weights
give O(1) activations: normal(0, 0.02)-scaled matrices, layer-norm weights near 1, a unit Gaussian Fourier
matrix, non-zero positions, and larger hypernetwork/IoU heads so that mask logits span well over 1.
"""

from __future__ import annotations

import re

import numpy as np

from sam_core import SamConfig

TINY_VISION = dict(
    hidden_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    mlp_dim=96,
    output_channels=32,
    window_size=14,
    global_attn_indexes=[1],
    num_pos_feats=16,
)
TINY_PROMPT = dict(hidden_size=32, mask_input_channels=8)
TINY_DECODER = dict(hidden_size=32, mlp_dim=64, num_attention_heads=4, iou_head_hidden_dim=32)


def tiny_config(**vision_overrides) -> SamConfig:
    """A SAM with the real 1024 input frame and 64x64 grid but tiny widths (runs in well under a second)."""
    return SamConfig(
        vision_config={**TINY_VISION, **vision_overrides},
        prompt_encoder_config=TINY_PROMPT,
        mask_decoder_config=TINY_DECODER,
    )


_EMBEDDING = re.compile(r"(point_embed\.\d+|not_a_point_embed|no_mask_embed|iou_token|mask_tokens)\.weight$")


def _fan_in(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])


def informative_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 weights for every canonical key in ``shapes``.

    Matrices get std 1/sqrt(fan_in) (activations stay O(1) through depth); biases and positions std 0.02;
    layer-norm weights 1 + N(0, 0.1); the Fourier matrix N(0, 1) and shared by the tied keys.
    """
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    for key, shape in sorted(shapes.items()):
        if key.endswith("positional_embedding"):
            continue
        is_norm = "layer_norm" in key or key.endswith(("norm1.weight", "norm2.weight"))
        if is_norm and key.endswith(".weight"):
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif key.endswith(".bias") or key.endswith(("pos_embed", "rel_pos_h", "rel_pos_w")):
            value = 0.02 * rng.standard_normal(shape) * (5.0 if "rel_pos" in key else 1.0)
        elif _EMBEDDING.search(key):
            value = rng.standard_normal(shape)
        else:
            value = rng.standard_normal(shape) / np.sqrt(_fan_in(shape))
        if "output_hypernetworks_mlps" in key and key.endswith("proj_out.weight"):
            value = value * 4.0  # mask logits spanning several units
        state[key] = value.astype(np.float32)
    gaussian = rng.standard_normal(shapes["shared_image_embedding.positional_embedding"]).astype(np.float32)
    state["shared_image_embedding.positional_embedding"] = gaussian
    if "prompt_encoder.shared_embedding.positional_embedding" in shapes:
        state["prompt_encoder.shared_embedding.positional_embedding"] = gaussian
    return state
