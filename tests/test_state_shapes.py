"""sam_core.state_shapes: the canonical keys and shapes from the config alone equal those of the built models."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sam_core import SAM_PRESETS, SamConfig, SamVisionConfig
from sam_core.state_shapes import VISION_BACKBONES, expected_shapes, vision_encoder_shapes
from tests.helpers.sam_weights import TINY_DECODER, TINY_PROMPT, TINY_VISION, tiny_config


def torch_shapes(config: SamConfig) -> dict[str, tuple[int, ...]]:
    torch = pytest.importorskip("torch")
    from sam_torch import SamModel

    with torch.device("meta"):
        model = SamModel(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _config(vision=None, prompt=None, decoder=None) -> SamConfig:
    return SamConfig(
        vision_config={**TINY_VISION, **(vision or {})},
        prompt_encoder_config={**TINY_PROMPT, **(prompt or {})},
        mask_decoder_config={**TINY_DECODER, **(decoder or {})},
    )


TINY_CASES = {
    "tiny": tiny_config(),
    "no_rel_pos": _config({"use_rel_pos": False}),
    "no_abs_pos": _config({"use_abs_pos": False}),
    "no_abs_no_rel": _config({"use_abs_pos": False, "use_rel_pos": False}),
    "all_global": _config({"num_hidden_layers": 3, "global_attn_indexes": [0, 1, 2]}),
    "no_global": _config({"num_hidden_layers": 3, "global_attn_indexes": []}),
    "window_0": _config({"window_size": 0, "global_attn_indexes": []}),
    "window_7_mixed": _config({"num_hidden_layers": 4, "window_size": 7, "global_attn_indexes": [0, 3]}),
    "no_qkv_bias": _config({"qkv_bias": False}),
    "small_image": _config({"image_size": 256, "patch_size": 8}, {"image_size": 256, "patch_size": 8}),
    "mlp_ratio": _config({"mlp_dim": None, "mlp_ratio": 2.5}),
    "iou_depth_2": _config(decoder={"iou_head_depth": 2}),
    "iou_depth_5": _config(decoder={"iou_head_depth": 5, "iou_head_hidden_dim": 24}),
    "multimask_1": _config(decoder={"num_multimask_outputs": 1}),
    "multimask_5": _config(decoder={"num_multimask_outputs": 5}),
    "decoder_3_layers": _config(decoder={"num_hidden_layers": 3, "attention_downsample_rate": 4}),
    "mask_channels_16": _config(prompt={"mask_input_channels": 16, "num_point_embeddings": 6}),
}


@pytest.mark.parametrize("name", sorted(TINY_CASES))
def test_tiny_configs_match_torch(name):
    config = TINY_CASES[name]
    expected = torch_shapes(config)
    assert expected_shapes(config) == expected
    assert list(expected_shapes(config)) == list(expected)  # state_dict order too


@pytest.mark.parametrize("preset", sorted(SAM_PRESETS))
def test_presets_match_torch(preset):
    config = SamConfig.from_preset(preset)
    assert expected_shapes(config) == torch_shapes(config)


def test_preset_details():
    shapes = expected_shapes(SamConfig.from_preset("sam-vit-base"))
    assert shapes["vision_encoder.layers.3.attn.qkv.weight"] == (2304, 768)
    assert shapes["vision_encoder.layers.0.attn.rel_pos_h"] == (27, 64)  # 14x14 windows
    assert shapes["vision_encoder.layers.2.attn.rel_pos_h"] == (127, 64)  # global over the 64x64 grid
    assert shapes["prompt_encoder.shared_embedding.positional_embedding"] == (2, 128)
    assert shapes["shared_image_embedding.positional_embedding"] == (2, 128)
    slim = expected_shapes(SamConfig.from_preset("slimsam-77"))
    assert slim["vision_encoder.layers.0.mlp.lin1.weight"] == (696, 168)


@pytest.mark.parametrize("name", ["tiny", "window_7_mixed"])
def test_tiny_configs_match_keras(name):
    pytest.importorskip("keras")
    from sam_tf import TFSamModel
    from sam_tf.pretrained import expected_shapes as keras_expected_shapes

    config = TINY_CASES[name]
    assert expected_shapes(config) == keras_expected_shapes(TFSamModel(config))


class _OtherVisionConfig(SamVisionConfig):
    model_type = "hiera_vision_model"


def test_unknown_backbone_raises_naming_it():
    config = SamConfig(vision_config=_OtherVisionConfig(**TINY_VISION), prompt_encoder_config=TINY_PROMPT,
                       mask_decoder_config=TINY_DECODER)  # fmt: skip
    assert config.vision_config.model_type == "hiera_vision_model"
    with pytest.raises(ValueError, match="hiera_vision_model"):
        expected_shapes(config)
    with pytest.raises(ValueError, match="sam_vision_model"):  # the known ones are listed
        vision_encoder_shapes(config.vision_config)


def test_registry_extension(monkeypatch):
    monkeypatch.setitem(VISION_BACKBONES, "hiera_vision_model", lambda cfg: {"stem.weight": (cfg.hidden_size, 3)})
    config = SamConfig(vision_config=_OtherVisionConfig(**TINY_VISION), prompt_encoder_config=TINY_PROMPT,
                       mask_decoder_config=TINY_DECODER)  # fmt: skip
    shapes = expected_shapes(config)
    assert shapes["vision_encoder.stem.weight"] == (48, 3)
    assert not any(k.startswith("vision_encoder.layers.") for k in shapes)
    assert "mask_decoder.iou_token.weight" in shapes


def test_import_loads_no_framework():
    code = (
        "import sys\n"
        "from sam_core.state_shapes import expected_shapes\n"
        "from sam_core import SamConfig\n"
        "expected_shapes(SamConfig())\n"
        "loaded = sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
