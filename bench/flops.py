"""Analytic FLOP count of the SAM image encoder (multiply-adds count as 2 FLOPs)."""

from __future__ import annotations

from typing import Any


def encoder_flops(vision: Any) -> float:
    """FLOPs of one image through patch embedding, the ViT layers (windows padded as the model pads them),
    and the neck, for a SamVisionConfig-like object."""
    grid = vision.image_size // vision.patch_size
    hidden, mlp = vision.hidden_size, vision.mlp_dim
    tokens = grid * grid
    flops = 2.0 * tokens * hidden * vision.num_channels * vision.patch_size**2
    for index in range(vision.num_hidden_layers):
        if index in vision.global_attn_indexes or vision.window_size == 0:
            padded, window_tokens = tokens, tokens
        else:
            side = -(-grid // vision.window_size) * vision.window_size
            padded, window_tokens = side * side, vision.window_size**2
        flops += 2.0 * padded * hidden * (3 * hidden + hidden)  # qkv and proj
        flops += 2.0 * 2.0 * padded * window_tokens * hidden  # q.k and attn.v
        flops += 2.0 * tokens * hidden * mlp * 2  # mlp
    out = vision.output_channels
    flops += 2.0 * tokens * hidden * out + 2.0 * tokens * out * out * 9
    return flops
