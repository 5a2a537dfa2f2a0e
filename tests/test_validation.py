"""Bad inputs raise ValueError / TypeError whose message names the argument, through the public processor API
and through the shared helpers the model backends call."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sam_core import SamImageProcessor, SamProcessor
from sam_core.tensors import array_kind, to_framework, to_numpy
from sam_core.validation import check_prompt_values, image_layout, validate_points

IMAGE = np.zeros((20, 30, 3), np.uint8)
PROCESSOR = SamProcessor()
NAN = float("nan")


@pytest.mark.parametrize(
    "prompts, pattern",
    [
        # points nested wrongly: must be [image][prompt][point][x, y] (or [image][point][x, y])
        (dict(input_points=[[1, 2]]), "input_points must be nested"),
        (dict(input_points=[1, 2]), "input_points must be nested"),
        (dict(input_points=[[[[[1, 2]]]]]), "input_points must be nested"),
        (dict(input_points=[[[1, 2, 3]]]), r"input_points\[0\]\[0\] must be a point \[x, y\]"),
        (dict(input_points=[[[[1, 2], [3]]]]), r"input_points\[0\]\[0\]\[1\] must be a point"),
        (dict(input_points=[[[[1, 2]], []]]), r"input_points\[0\]\[1\] must be a non-empty list"),
        (dict(input_points=[[[NAN, 2]]]), "input_points.*NaN or infinite"),
        (dict(input_points=np.array([[[[1.0, np.inf]]]])), "input_points.*NaN or infinite"),
        # labels: count and nesting must follow the points
        (dict(input_points=[[[1, 2], [3, 4]]], input_labels=[[1]]), r"input_labels\[0\] must have one label per point"),
        (dict(input_points=[[[[1, 2]], [[3, 4]]]], input_labels=[[[1]]]), r"input_labels\[0\] must hold one label"),
        (dict(input_points=[[[[1, 2]]]], input_labels=[[1]]), "input_labels must be nested"),
        (dict(input_points=[[[1, 2]]], input_labels=[[7]]), "input_labels.*point labels must be one of"),
        (dict(input_points=[[[1, 2]]], input_labels=[[1], [1]]), "input_labels has 2 image"),
        (dict(input_labels=[[1]]), "input_labels were given without input_points"),
        # boxes: 4 numbers, x2 >= x1, y2 >= y1, finite
        (dict(input_boxes=[[[10, 5, 4, 20]]]), r"input_boxes\[0\].*x2 >= x1"),
        (dict(input_boxes=[[[0, 20, 4, 5]]]), r"input_boxes\[0\].*y2 >= y1"),
        (dict(input_boxes=[[[0, 1, 2]]]), r"input_boxes\[0\]\[0\] must be 4 numbers"),
        (dict(input_boxes=[[0, 1, 2, 3]]), "input_boxes must be nested"),
        (dict(input_boxes=[[[0, 1, NAN, 3]]]), "input_boxes.*NaN or infinite"),
        # batch mismatches against the single image, and between prompts
        (dict(input_points=[[[1, 2]], [[3, 4]]]), "input_points has entries for 2 image"),
        (dict(input_boxes=[[[0, 0, 1, 1]], [[0, 0, 1, 1]]]), "input_boxes has entries for 2 image"),
        (dict(input_points=[[[[1, 2]], [[3, 4]]]], input_boxes=[[[0, 0, 1, 1]]]), "input_points has 2 prompt"),
    ],
)
def test_bad_prompts_raise_value_error(prompts, pattern):
    with pytest.raises(ValueError, match=pattern):
        PROCESSOR(IMAGE, **prompts)


def test_ragged_prompt_counts_across_images():
    with pytest.raises(ValueError, match="input_points must have the same number of prompts"):
        PROCESSOR([IMAGE, IMAGE], input_points=[[[[1, 2]]], [[[1, 2]], [[3, 4]]]])
    with pytest.raises(ValueError, match="input_boxes must have the same number of boxes"):
        PROCESSOR([IMAGE, IMAGE], input_boxes=[[[0, 0, 1, 1]], [[0, 0, 1, 1], [0, 0, 2, 2]]])


@pytest.mark.parametrize(
    "prompts, pattern",
    [
        (dict(input_points=[[["a", 2]]]), "input_points must hold numbers"),
        (dict(input_points=[[[None, 2]]]), "input_points must hold numbers"),
        (dict(input_points=[[[1, 2]]], input_labels=[["fg"]]), "input_labels must hold numbers"),
        (dict(input_boxes=[[[0, 0, 1, {}]]]), "input_boxes must hold numbers"),
    ],
)
def test_non_numeric_prompts_raise_type_error(prompts, pattern):
    with pytest.raises(TypeError, match=pattern):
        PROCESSOR(IMAGE, **prompts)


@pytest.mark.parametrize(
    "images, error, pattern",
    [
        (np.zeros((0, 30, 3), np.uint8), ValueError, "images is empty"),
        (np.zeros((20, 0, 3), np.uint8), ValueError, "images is empty"),
        (np.zeros((3, 20, 0), np.uint8), ValueError, "images is empty"),
        (np.zeros((20, 30, 2), np.uint8), ValueError, "images must have 1, 3 or 4 channels"),
        (np.zeros((20, 30, 5), np.uint8), ValueError, "images must have 1, 3 or 4 channels"),
        (np.zeros((2, 20, 30), np.uint8), ValueError, "images must have 1, 3 or 4 channels"),
        (np.zeros((20,), np.uint8), ValueError, "images must be a 2-D"),
        (np.full((20, 30, 3), np.nan, np.float32), ValueError, "images contains NaN"),
        (np.full((20, 30, 3), 300.0), ValueError, r"images pixel values must lie in \[0, 255\]"),
        (np.full((20, 30, 3), -1, np.int32), ValueError, r"images pixel values must lie in \[0, 255\]"),
        (np.zeros((20, 30, 3), np.complex64), TypeError, "images must hold real numbers"),
        ("cat.png", TypeError, "images must be a PIL.Image.Image, a numpy array or a torch/tf tensor"),
        ({"pixels": IMAGE}, TypeError, "images must be a PIL.Image.Image"),
        ([IMAGE, None], TypeError, r"images\[1\] must be a PIL.Image.Image"),
        ([[1, 2], [3, 4]], TypeError, r"images\[0\] must be a PIL.Image.Image"),
        ([IMAGE, np.zeros((20, 30, 5), np.uint8)], ValueError, r"images\[1\] must have 1, 3 or 4 channels"),
        ([], ValueError, "images must not be empty"),
        (None, ValueError, "images is required"),
    ],
)
def test_bad_images(images, error, pattern):
    with pytest.raises(error, match=pattern):
        PROCESSOR(images, input_points=[[[1, 2]]])


def test_bad_segmentation_maps():
    processor = SamImageProcessor()
    with pytest.raises(ValueError, match="segmentation_maps has entries for 1 image"):
        processor([IMAGE, IMAGE], segmentation_maps=[np.zeros((20, 30), np.int64)])
    with pytest.raises(ValueError, match=r"segmentation_maps\[0\] has size"):
        processor(IMAGE, segmentation_maps=np.zeros((21, 30), np.int64))
    with pytest.raises(ValueError, match=r"segmentation_maps\[0\] must be a 2-D"):
        processor(IMAGE, segmentation_maps=[Image.fromarray(IMAGE)])
    with pytest.raises(ValueError, match=r"segmentation_maps\[0\] must hold integer class labels"):
        processor(IMAGE, segmentation_maps=np.full((20, 30), 0.5))
    with pytest.raises(TypeError, match=r"segmentation_maps\[0\] must be a PIL"):
        processor(IMAGE, segmentation_maps=["map.png"])


def test_bad_normalization_statistics():
    with pytest.raises(ValueError, match="image_mean must be a float or 3 floats"):
        SamImageProcessor(image_mean=[0.5, 0.5])(IMAGE)


@pytest.mark.parametrize("value", ["torch", "jax", 1, "PT"])
def test_bad_return_tensors(value):
    with pytest.raises(ValueError, match="return_tensors"):
        PROCESSOR(IMAGE, return_tensors=value)
    with pytest.raises(ValueError, match="return_tensors"):
        to_framework(np.zeros(2), value)


def test_bad_post_process_arguments():
    processor = SamImageProcessor()
    masks = np.zeros((1, 1, 3, 256, 256), np.float32)
    with pytest.raises(ValueError, match="original_sizes has entries for 2 image"):
        processor.post_process_masks(masks, [[20, 30], [20, 30]], [[683, 1024]])
    with pytest.raises(ValueError, match="reshaped_input_sizes"):
        processor.post_process_masks(masks, [[20, 30]], [[2000, 1024]])
    with pytest.raises(ValueError, match=r"masks\[0\] must be \(prompts, masks, height, width\)"):
        processor.post_process_masks(np.zeros((1, 3, 256, 256)), [[20, 30]], [[683, 1024]])
    with pytest.raises(ValueError, match="return_tensors"):
        processor.post_process_masks(masks, [[20, 30]], [[683, 1024]], return_tensors="jax")


def test_processor_arguments():
    with pytest.raises(TypeError, match="image_processor must be a SamImageProcessor"):
        SamProcessor(image_processor="sam")
    with pytest.raises(ValueError, match="original_sizes"):
        PROCESSOR(IMAGE, original_sizes=[[20, 30]])


# ----------------------------------------------------------------------------------------- helpers for backends


def test_check_prompt_values_on_tensors():
    torch = pytest.importorskip("torch")
    check_prompt_values(input_points=torch.zeros(1, 1, 2, 2), input_labels=torch.tensor([[[1, -10]]]),
                        input_boxes=torch.tensor([[[0.0, 0, 1, 1]]]))  # fmt: skip
    with pytest.raises(ValueError, match="input_points contains NaN"):
        check_prompt_values(input_points=torch.full((1, 1, 1, 2), float("nan")))
    with pytest.raises(ValueError, match="input_labels holds"):
        check_prompt_values(input_labels=torch.tensor([[[2]]]))
    with pytest.raises(ValueError, match="input_boxes.*x2 >= x1"):
        check_prompt_values(input_boxes=torch.tensor([[[5.0, 0, 1, 1]]]))
    with pytest.raises(ValueError, match="input_boxes must end in 4"):
        check_prompt_values(input_boxes=np.zeros((1, 1, 3)))


def test_validate_points_forms():
    points, implicit = validate_points(np.zeros((2, 3, 2)), num_images=2)
    assert implicit and len(points) == 2 and points[0][0].shape == (3, 2)
    points, implicit = validate_points([[[[1, 2]], [[3, 4], [5, 6]]]])
    assert not implicit and [p.shape for p in points[0]] == [(1, 2), (2, 2)]


def test_image_layout():
    assert image_layout((20, 30)) == "hw"
    assert image_layout((3, 20, 30)) == "chw" and image_layout((20, 30, 3)) == "hwc"
    assert image_layout((20, 30, 4)) == "hwc" and image_layout((4, 20, 30)) == "chw"


def test_tensor_helpers():
    torch = pytest.importorskip("torch")
    grad = torch.ones(2, requires_grad=True) * 2
    assert array_kind(grad) == "pt" and array_kind(np.zeros(1)) == "np" and array_kind([1]) == "np"
    np.testing.assert_array_equal(to_numpy(grad), [2.0, 2.0])
    assert to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float32
    assert isinstance(to_framework(np.zeros(2), "pt"), torch.Tensor)
    assert to_framework(np.zeros(2), None).shape == (2,)


def test_tensor_helpers_tf():
    tf = pytest.importorskip("tensorflow")
    variable = tf.Variable([1.0, 2.0])
    assert array_kind(variable) == "tf" and array_kind(tf.constant(1)) == "tf"
    np.testing.assert_array_equal(to_numpy(variable), [1.0, 2.0])
    assert isinstance(to_framework(np.zeros(2), "tf"), tf.Tensor)
