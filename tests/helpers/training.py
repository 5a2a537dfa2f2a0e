"""Shared by the training tests: a micro SamConfig (128-pixel frame) and the small synthetic scenes they train on."""

from __future__ import annotations

from sam_core.config import SamConfig

#: ``make_scene`` arguments of the training tests: small images, few objects.
SCENE = dict(long_side=(64, 128), max_objects=3)


def micro_config() -> SamConfig:
    """128-pixel frame, 16-pixel patches: an 8 x 8 grid and 32 x 32 masks."""
    return SamConfig(
        vision_config=dict(image_size=128, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           mlp_dim=64, output_channels=16, window_size=4, global_attn_indexes=[1], num_pos_feats=8),
        prompt_encoder_config=dict(hidden_size=16, image_size=128, patch_size=16, mask_input_channels=8),
        mask_decoder_config=dict(hidden_size=16, mlp_dim=32, num_attention_heads=2, iou_head_hidden_dim=16),
    )  # fmt: skip
