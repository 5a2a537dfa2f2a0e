"""Keras conventions of TFSamModel: get_config/from_config, layer configs, the .keras round trip and the
SavedModel export."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sam_core import SamConfig
from sam_tf import TFSamModel
from sam_tf.image_encoder import VisionLayer
from sam_tf.layers import FeedForward, LayerNorm2d, MLPBlock
from sam_tf.prompt_encoder import PositionalEmbedding, PromptEncoder
from sam_tf.transformer import TwoWayAttentionBlock
from tests.helpers.sam_weights import tiny_config
from tests.helpers.tf_twins import make_tf_twins


@pytest.fixture(scope="module")
def model():
    return make_tf_twins(tiny_config(), seed=2)[0]


def _probe(model):
    rng = np.random.default_rng(0)
    pixels = rng.standard_normal((1, 3, 1024, 1024)).astype(np.float32)
    return model(pixel_values=pixels, input_points=np.array([[[[300.0, 500.0]]]], np.float32),
                 input_boxes=np.array([[[100.0, 200.0, 700.0, 900.0]]], np.float32))


def test_get_config_is_the_config_dict(model):
    assert model.get_config() == model.config.to_dict()
    rebuilt = TFSamModel.from_config(model.get_config())
    assert rebuilt.config == model.config
    assert [v.path for v in rebuilt.weights] == [v.path for v in model.weights]


def test_layer_configs_round_trip():
    config = tiny_config()
    shared = PositionalEmbedding(config.vision_config, name="shared_image_embedding")
    layers = [
        LayerNorm2d(8, eps=1e-5, name="norm"),
        MLPBlock(hidden_size=8, mlp_dim=16, hidden_act="gelu", name="mlp"),
        FeedForward(input_dim=8, hidden_dim=16, output_dim=4, num_layers=3, sigmoid_output=True, name="ff"),
        VisionLayer(config.vision_config, window_size=14, name="layers_0"),
        TwoWayAttentionBlock(config.mask_decoder_config, attention_downsample_rate=2, skip_first_layer_pe=True,
                             name="layers_0"),
        PromptEncoder(config, shared, name="prompt_encoder"),
    ]
    for layer in layers:
        layer_config = layer.get_config()
        clone = type(layer).from_config(layer_config)
        assert clone.get_config() == layer_config, type(layer).__name__
        clone.build()
        layer.build()
        assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in layer.weights]


def test_keras_file_round_trip(model, tmp_path):
    path = tmp_path / "sam.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, TFSamModel) and loaded.config == model.config
    for a, b in zip(model.weights, loaded.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(_probe(loaded).pred_masks.numpy(), _probe(model).pred_masks.numpy())


def test_saved_model_export(model, tmp_path):
    model.export(tmp_path / "saved")
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    rng = np.random.default_rng(1)
    pixels = tf.constant(rng.standard_normal((1, 3, 1024, 1024)), tf.float32)
    points = tf.constant([[[[300.0, 500.0], [600.0, 100.0]]]])
    labels = tf.constant([[[1, 0]]], tf.int32)
    served = restored.serve(pixels, points, labels)
    expected = model(pixel_values=pixels, input_points=points, input_labels=labels)
    assert tuple(served["pred_masks"].shape) == (1, 1, 3, 256, 256)
    np.testing.assert_allclose(served["pred_masks"].numpy(), expected.pred_masks.numpy(), atol=1e-5)
    np.testing.assert_allclose(served["iou_scores"].numpy(), expected.iou_scores.numpy(), atol=1e-5)
    signature = restored.signatures["serving_default"]
    assert set(signature.structured_outputs) == {"pred_masks", "iou_scores"}


def test_preset_configs_build_the_same_variable_names():
    # SlimSAM-shaped dims give a model (tiny depth to stay fast) whose variables all map to canonical names.
    base = SamConfig.from_preset("slimsam-50").vision_config.to_dict()
    config = tiny_config(hidden_size=base["hidden_size"], mlp_dim=base["mlp_dim"],
                         num_attention_heads=base["num_attention_heads"])
    model = TFSamModel(config)
    assert all(v.path.startswith("tf_sam_model/") for v in model.weights)
