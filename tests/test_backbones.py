"""The vision-encoder registry of both backends (sam_torch.backbones, sam_tf.backbones) and
SamVisionConfig.grid_size."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from sam_core import SAM_PRESETS, SamConfig, SamVisionConfig
from tests.helpers.sam_weights import tiny_config

BACKENDS = ["sam_torch", "sam_tf"]
DUMMY_TYPE = "dummy_vision_model"


def _backend(name: str):
    """(backbones module, image_encoder module, model class) of one backend."""
    backbones = importlib.import_module(f"{name}.backbones")
    image_encoder = importlib.import_module(f"{name}.image_encoder")
    package = importlib.import_module(name)
    model_class = package.SamModel if name == "sam_torch" else package.TFSamModel
    return backbones, image_encoder, model_class


def _with_model_type(model_type: str) -> SamConfig:
    config = tiny_config()
    config.vision_config.model_type = model_type  # instance attribute over the ClassVar
    return config


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_config_builds_the_vit(backend):
    backbones, image_encoder, model_class = _backend(backend)
    assert backbones.VISION_ENCODERS[SamVisionConfig.model_type] is image_encoder.VisionEncoder
    config = tiny_config()
    assert type(backbones.build_vision_encoder(config.vision_config)) is image_encoder.VisionEncoder
    assert type(model_class(config).vision_encoder) is image_encoder.VisionEncoder


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_model_type_is_a_value_error(backend):
    backbones, _, model_class = _backend(backend)
    config = _with_model_type("hiera_vision_model")
    with pytest.raises(ValueError, match="'hiera_vision_model'.*known: sam_vision_model"):
        backbones.build_vision_encoder(config.vision_config)
    with pytest.raises(ValueError, match="hiera_vision_model"):
        model_class(config)


@pytest.mark.parametrize("backend", BACKENDS)
def test_registered_backbone_is_built_by_the_model(backend, monkeypatch):
    backbones, image_encoder, model_class = _backend(backend)

    class DummyEncoder(image_encoder.VisionEncoder):
        """A stand-in backbone: the ViT under another name."""

    monkeypatch.setitem(backbones.VISION_ENCODERS, DUMMY_TYPE, DummyEncoder)
    model = model_class(_with_model_type(DUMMY_TYPE))
    assert type(model.vision_encoder) is DummyEncoder
    out = model(pixel_values=np.zeros((1, 3, 1024, 1024), np.float32), input_points=np.zeros((1, 1, 1, 2), np.float32))
    assert tuple(out.pred_masks.shape) == (1, 1, 3, 256, 256)


@pytest.mark.parametrize("name", sorted(SAM_PRESETS))
def test_grid_size_of_presets(name):
    config = SamConfig.from_preset(name)
    vision = config.vision_config
    assert vision.grid_size == vision.image_size // vision.patch_size == 64
    assert vision.grid_size == config.prompt_encoder_config.image_embedding_size


def test_grid_size_is_derived_read_only_and_not_in_config_json():
    vision = SamVisionConfig(image_size=128, patch_size=16)
    assert vision.grid_size == 8
    assert "grid_size" not in vision.to_dict()
    with pytest.raises(AttributeError):
        vision.grid_size = 4
