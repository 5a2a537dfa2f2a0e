"""Architecture inference from tensor shapes: what the shapes determine, what they do not, and how the converter
says so."""

from __future__ import annotations

import pytest

from sam_core import SAM_PRESETS, SamConfig
from sam_core.checkpoint.infer import infer_config
from sam_core.state_shapes import expected_shapes
from sam_core.weights import CheckpointError
from tests.helpers.sam_weights import tiny_config


@pytest.mark.parametrize("preset", sorted(SAM_PRESETS))
def test_every_preset_is_recovered_from_its_shapes(preset):
    config = SamConfig.from_preset(preset)
    inferred, notes = infer_config(expected_shapes(config))
    assert inferred == config
    assert any("mask_decoder_config.num_attention_heads=8" in note for note in notes), notes


def test_heads_windows_and_global_layers_come_from_rel_pos_tables():
    config = tiny_config(num_attention_heads=6, window_size=5, global_attn_indexes=[0])
    vision = infer_config_or_fields(config)
    assert vision["num_attention_heads"] == 6 and vision["window_size"] == 5 and vision["global_attn_indexes"] == [0]


def infer_config_or_fields(config: SamConfig) -> dict:
    from sam_core.checkpoint.infer import vision_fields

    return vision_fields(expected_shapes(config))


def test_slimsam_style_pruned_widths_are_inferred():
    """A pruned ViT-B with other widths than the presets (hidden 240, mlp 960, head width 20)."""
    config = SamConfig(vision_config={"hidden_size": 240, "mlp_dim": 960, "num_attention_heads": 12})
    inferred, _ = infer_config(expected_shapes(config))
    assert inferred == config


def test_decoder_heads_are_not_in_the_shapes_so_a_custom_decoder_needs_config():
    with pytest.raises(CheckpointError, match=r"mask_decoder_config.num_attention_heads.*--config"):
        infer_config(expected_shapes(tiny_config()))


def test_without_rel_pos_the_vision_heads_are_ambiguous():
    config = SamConfig(vision_config={"use_rel_pos": False, "hidden_size": 96, "num_attention_heads": 4})
    with pytest.raises(CheckpointError, match=r"vision_config.num_attention_heads.*--config"):
        infer_config(expected_shapes(config))


def test_missing_tensor_is_named():
    shapes = expected_shapes(SamConfig())
    del shapes["vision_encoder.patch_embed.projection.weight"]
    with pytest.raises(CheckpointError, match="no vision_encoder.patch_embed.projection.weight"):
        infer_config(shapes)


def test_inconsistent_rel_pos_tables_are_refused():
    shapes = expected_shapes(SamConfig())
    shapes["vision_encoder.layers.3.attn.rel_pos_h"] = (27, 32)
    with pytest.raises(CheckpointError, match="relative-position tables are inconsistent"):
        infer_config(shapes)
