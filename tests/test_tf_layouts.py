"""sam_core.layouts: the one rule from canonical names to Keras variable paths and transformers-TF h5 names, and
the per-kind transposes, checked on every key of the model."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core import layouts
from sam_core.h5_layout import read_keras_h5, write_keras_h5
from sam_tf import TFSamModel
from sam_tf.pretrained import expected_shapes
from sam_torch import SamModel
from tests.helpers.sam_weights import tiny_config


@pytest.fixture(scope="module")
def torch_state():
    return {k: v.numpy() for k, v in SamModel(tiny_config()).state_dict().items()}


def test_every_key_round_trips_both_layouts(torch_state):
    for key in torch_state:
        path = layouts.keras_path(key)
        assert layouts.canonical_key(path) == key
        assert layouts.canonical_key("any_model_name/" + path) == key
        group, name = layouts.hf_tf_name(key)
        assert layouts.canonical_from_hf_tf(group, name) == key


def test_the_written_rule_examples():
    assert layouts.keras_path("vision_encoder.layers.3.attn.qkv.weight") == "vision_encoder/layers_3/attn/qkv/kernel"
    assert layouts.keras_path("mask_decoder.transformer.layers.1.layer_norm2.bias") == (
        "mask_decoder/transformer/layers_1/layer_norm2/beta")
    assert layouts.keras_path("prompt_encoder.point_embed.2.weight") == "prompt_encoder/point_embed_2/embeddings"
    assert layouts.hf_tf_name("vision_encoder.layers.0.attn.qkv.weight") == (
        "vision_encoder", "tf_sam_model/vision_encoder/layers_._0/attn/qkv/kernel:0")
    assert layouts.hf_tf_name("prompt_encoder.point_embed.0.weight") == (
        "prompt_encoder", "tf_sam_model/prompt_encoder/point_embed_._0.weight:0")
    assert layouts.hf_tf_name("vision_encoder.neck.layer_norm1.weight") == (
        "vision_encoder", "tf_sam_model/vision_encoder/neck/layer_norm1/weight:0")
    assert layouts.hf_tf_name("prompt_encoder.shared_embedding.positional_embedding") == (
        "prompt_encoder", "tf_sam_model/shared_image_embedding/positional_embedding:0")


def test_kinds_and_transposes(torch_state):
    kinds = {key: layouts.split_key(key)[2].name for key in torch_state}
    assert kinds["vision_encoder.patch_embed.projection.weight"] == "conv2d"
    assert kinds["mask_decoder.upscale_conv1.weight"] == "conv_transpose2d"
    assert kinds["mask_decoder.upscale_layer_norm.weight"] == "layer_norm_2d"
    assert kinds["vision_encoder.layers.0.mlp.lin1.weight"] == "dense"
    assert kinds["vision_encoder.pos_embed"] == "parameter"
    assert layouts.to_keras("vision_encoder.layers.0.mlp.lin1.weight", np.zeros((96, 48))).shape == (48, 96)
    assert layouts.to_keras("vision_encoder.neck.conv2.weight", np.zeros((32, 16, 3, 1))).shape == (3, 1, 16, 32)
    assert layouts.to_keras("mask_decoder.upscale_conv1.weight", np.zeros((32, 8, 2, 2))).shape == (2, 2, 8, 32)
    value = np.random.default_rng(0).standard_normal((8, 4, 2, 3))
    key = "mask_decoder.upscale_conv2.weight"
    np.testing.assert_array_equal(layouts.from_keras(key, layouts.to_keras(key, value)), value)
    with pytest.raises(KeyError, match="no layout rule"):
        layouts.split_key("vision_encoder.mystery.weight")


def test_model_variables_are_the_canonical_keys(torch_state):
    model = TFSamModel(tiny_config())
    shapes = expected_shapes(model)
    assert shapes == {k: v.shape for k, v in torch_state.items()}
    assert len(model.weights) == len(torch_state) - 1  # the tied Gaussian matrix is one variable


def test_h5_round_trip_and_split_attributes(tmp_path):
    names = {f"tf_sam_model/g/{'x' * 200}_{i}:0": np.full((2,), i, np.float32) for i in range(400)}  # > 64 KiB
    write_keras_h5({"g": names}, tmp_path / "w.h5")
    back = read_keras_h5(tmp_path / "w.h5")
    assert list(back["g"]) == list(names)
    np.testing.assert_array_equal(back["g"][list(names)[-1]], names[list(names)[-1]])
