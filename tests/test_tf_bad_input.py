"""TFSamModel's public boundary: the bad inputs of test_torch_bad_input raise the same exception types, and the
same messages (the shared sam_core validation), as the torch backend."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch

from sam_tf import TFSamModel
from sam_torch import SamModel
from tests.helpers.sam_weights import tiny_config

NAN_POINT = np.array([[[[np.nan, 1.0]]]], np.float32)
INF_BOX = np.array([[[0.0, 0.0, np.inf, 5.0]]], np.float32)

BAD_IMAGES = [
    dict(pixel_values=np.zeros((1, 3, 512, 512), np.float32)),
    dict(pixel_values=np.zeros((3, 1024, 1024), np.float32)),
    dict(pixel_values=np.zeros((1, 4, 1024, 1024), np.float32)),
    dict(pixel_values=np.zeros((0, 3, 1024, 1024), np.float32)),
    dict(image_embeddings=np.zeros((0, 32, 64, 64), np.float32)),
    dict(),
    dict(image_embeddings=np.zeros((1, 16, 64, 64), np.float32)),
    dict(pixel_values=np.zeros((1, 3, 1024, 1024), np.float32), image_embeddings=np.zeros((1, 32, 64, 64), np.float32)),
]
BAD_PROMPTS = [
    dict(input_points=np.zeros((1, 2, 2), np.float32)),
    dict(input_points=np.zeros((1, 1, 2, 3), np.float32)),
    dict(input_points=np.zeros((2, 1, 1, 2), np.float32)),
    dict(input_points=np.zeros((1, 1, 2, 2), np.float32), input_labels=np.ones((1, 1, 3), np.int64)),
    dict(input_labels=np.ones((1, 1, 3), np.int64)),
    dict(input_points=NAN_POINT),
    dict(input_boxes=INF_BOX),
    dict(input_boxes=np.zeros((1, 1, 3), np.float32)),
    dict(input_points=np.zeros((1, 0, 1, 2), np.float32)),
    dict(input_boxes=np.zeros((1, 0, 4), np.float32)),
    dict(input_boxes=np.zeros((2, 1, 4), np.float32)),
    dict(input_points=np.zeros((1, 2, 1, 2), np.float32), input_boxes=np.zeros((1, 3, 4), np.float32)),
    dict(input_masks=np.zeros((1, 1, 128, 128), np.float32)),
]


@pytest.fixture(scope="module")
def models():
    return TFSamModel(tiny_config()), SamModel(tiny_config())


def _error(model, kwargs, to_tensor):
    with pytest.raises(Exception) as info:
        model(**{k: to_tensor(v) for k, v in kwargs.items()})
    return info.value


@pytest.mark.parametrize("kwargs", BAD_IMAGES + [dict(image_embeddings=np.zeros((1, 32, 64, 64), np.float32), **p)
                                                 for p in BAD_PROMPTS])
def test_same_error_as_torch(models, kwargs):
    ours, reference = models
    tf_error = _error(ours, kwargs, tf.convert_to_tensor)
    pt_error = _error(reference, kwargs, torch.from_numpy)
    assert type(tf_error) is type(pt_error) is ValueError
    assert str(tf_error) == str(pt_error)
    # numpy inputs take the same path
    assert str(_error(ours, kwargs, np.asarray)) == str(pt_error)

# The value checks of sam_core.validation.check_prompt_values (labels, box corner order), as in test_torch_bad_input.
ONE_POINT = np.zeros((1, 1, 1, 2), np.float32)
BAD_VALUES = [
    (dict(input_points=ONE_POINT, input_labels=np.array([[[3]]], np.int64)), "input_labels holds"),
    (dict(input_points=ONE_POINT, input_labels=np.array([[[7]]], np.int64)), "input_labels holds"),
    (dict(input_points=np.zeros((1, 1, 2, 2), np.float32), input_labels=np.array([[[1, -7]]], np.int64)),
     "input_labels holds"),
    (dict(input_boxes=np.array([[[50.0, 10.0, 20.0, 40.0]]], np.float32)), "input_boxes"),
    (dict(input_boxes=np.array([[[10.0, 50.0, 20.0, 40.0]]], np.float32)), "input_boxes"),
    (dict(input_boxes=np.array([[[0.0, 0.0, 5.0, 5.0], [9.0, 0.0, 1.0, 5.0]]], np.float32)), "input_boxes"),
]


@pytest.mark.parametrize("kwargs, name", BAD_VALUES)
def test_bad_prompt_values_same_error_as_torch(models, kwargs, name):
    ours, reference = models
    kwargs = dict(image_embeddings=np.zeros((1, 32, 64, 64), np.float32), **kwargs)
    tf_error = _error(ours, kwargs, tf.convert_to_tensor)
    pt_error = _error(reference, kwargs, torch.from_numpy)
    assert type(tf_error) is type(pt_error) is ValueError
    assert str(tf_error) == str(pt_error)
    assert str(tf_error).startswith(name)
    assert str(_error(ours, kwargs, np.asarray)) == str(pt_error)


@pytest.mark.parametrize("kwargs, name", BAD_VALUES)
def test_get_prompt_embeddings_checks_values_as_torch(models, kwargs, name):
    ours, reference = models
    with pytest.raises(ValueError) as tf_info:
        ours.get_prompt_embeddings(**{k: tf.convert_to_tensor(v) for k, v in kwargs.items()})
    with pytest.raises(ValueError) as pt_info:
        reference.get_prompt_embeddings(**{k: torch.from_numpy(v) for k, v in kwargs.items()})
    assert str(tf_info.value) == str(pt_info.value)


def test_traced_call_skips_value_checks(models):
    """Under tf.function the prompt values are symbolic: shapes are checked, values are not."""
    run = tf.function(lambda labels: models[0](image_embeddings=np.zeros((1, 32, 64, 64), np.float32),
                                               input_points=ONE_POINT, input_labels=labels, return_dict=False))
    iou, masks = run(tf.constant([[[7]]], tf.int32))
    assert tuple(masks.shape) == (1, 1, 3, 256, 256) and tuple(iou.shape) == (1, 1, 3)


def test_non_tensor_input_is_a_type_error(models):
    with pytest.raises(TypeError, match="pixel_values must be a tf.Tensor or numpy array, got list"):
        models[0](pixel_values=[[1.0]])


def test_unknown_keyword_is_a_type_error(models):
    with pytest.raises(TypeError, match="unexpected keyword arguments: input_point"):
        models[0](image_embeddings=np.zeros((1, 32, 64, 64), np.float32), input_point=np.zeros((1, 1, 1, 2)))


def test_processor_keys_are_accepted(models):
    out = models[0](
        image_embeddings=np.zeros((1, 32, 64, 64), np.float32), input_points=np.zeros((1, 1, 1, 2), np.float32),
        original_sizes=np.array([[10, 10]]), reshaped_input_sizes=np.array([[1024, 1024]]),
    )
    assert tuple(out.pred_masks.shape) == (1, 1, 3, 256, 256)


def test_config_type_is_checked():
    with pytest.raises(TypeError, match="config must be a sam_core.SamConfig"):
        TFSamModel({"vision_config": {}})
