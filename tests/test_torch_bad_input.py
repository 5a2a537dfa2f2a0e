"""SamModel's public boundary: bad inputs raise ValueError/TypeError naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_torch import SamModel
from tests.helpers.sam_weights import tiny_config


@pytest.fixture(scope="module")
def model():
    return SamModel(tiny_config())


@pytest.fixture(scope="module")
def embeddings(model):
    return torch.zeros(1, 32, 64, 64)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(pixel_values=torch.zeros(1, 3, 512, 512)), ValueError, "pixel_values must have shape"),
        (dict(pixel_values=torch.zeros(3, 1024, 1024)), ValueError, "pixel_values must have shape"),
        (dict(pixel_values=torch.zeros(1, 4, 1024, 1024)), ValueError, "pixel_values"),
        (dict(pixel_values=torch.zeros(0, 3, 1024, 1024)), ValueError, "pixel_values holds no image"),
        (dict(image_embeddings=torch.zeros(0, 32, 64, 64)), ValueError, "image_embeddings holds no image"),
        (dict(pixel_values=[[1.0]]), TypeError, "pixel_values must be a torch.Tensor"),
        (dict(), ValueError, "Either pixel_values or image_embeddings"),
        (dict(image_embeddings=torch.zeros(1, 16, 64, 64)), ValueError, "image_embeddings must have shape"),
    ],
)
def test_bad_images(model, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        model(**kwargs)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(input_points=torch.zeros(1, 2, 2)), "input_points must have shape"),
        (dict(input_points=torch.zeros(1, 1, 2, 3)), "input_points must have shape"),
        (dict(input_points=torch.zeros(2, 1, 1, 2)), "input_points has batch 2"),
        (dict(input_points=torch.zeros(1, 1, 2, 2), input_labels=torch.ones(1, 1, 3)), "input_labels must have shape"),
        (dict(input_points=torch.tensor([[[[float("nan"), 1.0]]]])), "input_points contains NaN"),
        (dict(input_boxes=torch.tensor([[[0.0, 0.0, float("inf"), 5.0]]])), "input_boxes contains NaN"),
        (dict(input_boxes=torch.zeros(1, 1, 3)), "input_boxes must have shape"),
        (dict(input_points=torch.zeros(1, 0, 1, 2)), "input_points holds no prompt"),
        (dict(input_boxes=torch.zeros(1, 0, 4)), "input_boxes holds no box"),
        (dict(input_points=torch.zeros(1, 2, 1, 2), input_boxes=torch.zeros(1, 3, 4)), "same number of prompts"),
        (dict(input_masks=torch.zeros(1, 1, 128, 128)), "input_masks must have shape"),
        (dict(input_boxes=torch.tensor([[[50.0, 10.0, 20.0, 40.0]]])), "input_boxes"),
        (dict(input_points=torch.zeros(1, 1, 1, 2), input_labels=torch.tensor([[[3]]])), "input_labels holds"),
    ],
)
def test_bad_prompts(model, embeddings, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        model(image_embeddings=embeddings, **kwargs)


def test_unknown_keyword_is_a_type_error(model, embeddings):
    with pytest.raises(TypeError, match="input_point"):
        model(image_embeddings=embeddings, input_point=torch.zeros(1, 1, 1, 2))


def test_processor_keys_are_accepted(model, embeddings):
    out = model(image_embeddings=embeddings, input_points=np.zeros((1, 1, 1, 2), np.float32),
                original_sizes=torch.tensor([[10, 10]]), reshaped_input_sizes=torch.tensor([[1024, 1024]]))
    assert out.pred_masks.shape == (1, 1, 3, 256, 256)


def test_config_type_is_checked():
    with pytest.raises(TypeError, match="config must be a sam_core.SamConfig"):
        SamModel({"vision_config": {}})
