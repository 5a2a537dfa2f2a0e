"""SamProcessor against transformers' SamProcessor: prompt scaling, nesting, ragged padding, return kinds,
save/load round trips and mask post-processing delegation."""

from __future__ import annotations

import numpy as np
import pytest

from sam_core import SamImageProcessor, SamProcessor
from tests.helpers.tolerances import PIXEL_ATOL

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

#: Scaled prompt coordinates: both sides scale in float64 and round once to float32, so they agree exactly.
COORD_ATOL = 0.0

RNG = np.random.default_rng(1)
LANDSCAPE = RNG.integers(0, 256, (48, 80, 3), dtype=np.uint8)  # resized to 614 x 1024
PORTRAIT = RNG.integers(0, 256, (90, 35, 3), dtype=np.uint8)  # resized to 1024 x 398


@pytest.fixture(scope="module")
def ours() -> SamProcessor:
    return SamProcessor(SamImageProcessor())


@pytest.fixture(scope="module")
def theirs():
    return transformers.SamProcessor(transformers.SamImageProcessor())


def reference(theirs, images, **prompts) -> dict[str, np.ndarray]:
    """transformers' outputs as numpy ('pt' is the form in which it adds the prompt axis). It refuses numpy
    prompts, so those are handed over as lists."""
    prompts = {k: v.tolist() if k.startswith("input_") and isinstance(v, np.ndarray) else v for k, v in prompts.items()}
    return {k: v.numpy() for k, v in theirs(images, return_tensors="pt", **prompts).items()}


def assert_matches(mine, ref) -> None:
    assert set(mine) == set(ref), (sorted(mine), sorted(ref))
    for key, value in mine.items():
        assert value.shape == ref[key].shape, key
        if key == "pixel_values":
            assert np.abs(value - ref[key]).max() <= PIXEL_ATOL
        elif key in ("input_points", "input_boxes"):
            assert value.dtype == np.float32
            assert np.abs(value - ref[key].astype(np.float32)).max() <= COORD_ATOL, key
        else:
            assert value.dtype == np.int64, key
            np.testing.assert_array_equal(value, ref[key], err_msg=key)


PROMPT_CASES = {
    "one point, three levels (the seed example)": dict(input_points=[[[30, 20]]]),
    "fg/bg points with labels": dict(input_points=[[[30, 20], [5.5, 40.25], [79, 47]]], input_labels=[[1, 0, 1]]),
    "four levels, two prompts": dict(
        input_points=[[[[30, 20], [10, 10]], [[70.5, 3], [1, 1]]]], input_labels=[[[1, 0], [1, 1]]]
    ),
    "one box": dict(input_boxes=[[[4, 6, 60, 40]]]),
    "two boxes, float": dict(input_boxes=[[[4.3, 6.1, 60.7, 40.2], [0, 0, 79, 47]]]),
    "points and boxes": dict(
        input_points=[[[[30, 20]], [[50, 25]]]],
        input_labels=[[[1], [0]]],
        input_boxes=[[[4, 6, 60, 40], [40, 10, 70, 30]]],
    ),
    "numpy prompts": dict(input_points=np.array([[[[30.0, 20.0]]]]), input_labels=np.array([[[1]]])),
    "torch prompts": dict(input_points=torch.tensor([[[30.0, 20.0], [3, 4]]]), input_labels=torch.tensor([[1, 0]]),
                          input_boxes=torch.tensor([[[4.0, 6, 60, 40]]])),  # fmt: skip
}


@pytest.mark.parametrize("name", sorted(PROMPT_CASES))
def test_prompts_match_transformers(ours, theirs, name):
    prompts = PROMPT_CASES[name]
    assert_matches(ours(LANDSCAPE, return_tensors="np", **prompts), reference(theirs, LANDSCAPE, **prompts))


def test_portrait_and_batch_of_two_sizes(ours, theirs):
    prompts = dict(input_points=[[[10, 80], [30, 2]], [[70, 40], [1, 1]]], input_labels=[[1, 0], [1, 1]],
                   input_boxes=[[[2, 3, 30, 85]], [[10, 10, 70, 40]]])  # fmt: skip
    images = [PORTRAIT, LANDSCAPE]
    mine = ours(images, return_tensors="np", **prompts)
    assert mine["input_points"].shape == (2, 1, 2, 2) and mine["input_boxes"].shape == (2, 1, 4)
    assert_matches(mine, reference(theirs, images, **prompts))
    # x scales by 398/35 and y by 1024/90 on the portrait image.
    np.testing.assert_allclose(mine["input_points"][0, 0, 0], [10 * 398 / 35, 80 * 1024 / 90], rtol=1e-6)


def test_ragged_points_across_images_are_padded(ours, theirs):
    prompts = dict(input_points=[[[10, 80], [30, 2], [5, 5]], [[70, 40]]], input_labels=[[1, 0, 1], [1]])
    images = [PORTRAIT, LANDSCAPE]
    mine = ours(images, return_tensors="np", **prompts)
    assert mine["input_points"].shape == (2, 1, 3, 2)
    np.testing.assert_array_equal(mine["input_labels"], [[[1, 0, 1]], [[1, -10, -10]]])
    np.testing.assert_array_equal(mine["input_points"][1, 0, 1:], 0.0)  # pad points are (0, 0)
    # transformers pads with (-10, -10) and appends a single -10 label, so only one missing point is comparable.
    one_missing = dict(input_points=[[[10, 80], [30, 2]], [[70, 40]]], input_labels=[[1, 0], [1]])
    mine = ours(images, return_tensors="np", **one_missing)
    ref = reference(theirs, images, **one_missing)
    np.testing.assert_array_equal(mine["input_labels"], ref["input_labels"])
    real = mine["input_labels"] != -10
    np.testing.assert_array_equal(mine["input_points"][real], ref["input_points"][real].astype(np.float32))


def test_ragged_points_within_an_image_and_without_labels(ours):
    out = ours(LANDSCAPE, input_points=[[[[1, 2]], [[3, 4], [5, 6], [7, 8]]]], return_tensors="np")
    assert out["input_points"].shape == (1, 2, 3, 2)
    np.testing.assert_array_equal(out["input_labels"], [[[1, -10, -10], [1, 1, 1]]])
    assert "input_labels" not in ours(LANDSCAPE, input_points=[[[1, 2], [3, 4]]])


@pytest.mark.parametrize("return_tensors", [None, "np", "pt", "tf"])
def test_return_tensors(ours, return_tensors):
    if return_tensors == "tf":
        pytest.importorskip("tensorflow")
    out = ours([LANDSCAPE, PORTRAIT], input_points=[[[1, 2]], [[3, 4]]], input_labels=[[1], [0]],
               input_boxes=[[[1, 2, 3, 4]], [[0, 0, 5, 5]]], return_tensors=return_tensors)  # fmt: skip
    module = {None: "numpy", "np": "numpy", "pt": "torch", "tf": "tensorflow"}[return_tensors]
    shapes = {"pixel_values": (2, 3, 1024, 1024), "original_sizes": (2, 2), "reshaped_input_sizes": (2, 2),
              "input_points": (2, 1, 1, 2), "input_labels": (2, 1, 1), "input_boxes": (2, 1, 4)}  # fmt: skip
    assert set(out) == set(shapes)
    for key, shape in shapes.items():
        assert type(out[key]).__module__.startswith(module), key
        assert tuple(out[key].shape) == shape, key
    dtypes = {"input_points": "float32", "input_boxes": "float32", "input_labels": "int64"}
    assert all(dtype in str(out[key].dtype) for key, dtype in dtypes.items())
    assert out.input_points is out["input_points"]


def test_to_device_like_the_seed_example(ours):
    inputs = ours(LANDSCAPE, input_points=[[[450, 600]]], return_tensors="pt").to("cpu")
    assert inputs["input_points"].shape == (1, 1, 1, 2) and inputs["pixel_values"].device.type == "cpu"


def test_prompts_without_images(ours):
    out = ours(original_sizes=[[48, 80]], input_points=[[[30, 20]]], return_tensors="np")
    np.testing.assert_array_equal(out["input_points"], ours(LANDSCAPE, input_points=[[[30, 20]]])["input_points"])
    assert "pixel_values" not in out


def test_segmentation_maps_through_the_processor(ours, theirs):
    seg_map = RNG.integers(0, 2, (48, 80))
    mine = ours(LANDSCAPE, segmentation_maps=seg_map, input_points=[[[1, 2]]], return_tensors="np")
    ref = reference(theirs, LANDSCAPE, segmentation_maps=seg_map, input_points=[[[1, 2]]])
    assert_matches(mine, ref)


def test_save_load_round_trip(tmp_path, ours):
    custom = SamProcessor(SamImageProcessor(size={"longest_edge": 512}, pad_size=512))
    custom.save_pretrained(tmp_path / "ours")
    loaded = SamProcessor.from_pretrained(tmp_path / "ours")
    assert loaded.image_processor.to_dict() == custom.image_processor.to_dict() and loaded.target_size == 512
    hf = transformers.SamProcessor.from_pretrained(tmp_path / "ours")
    prompts = dict(input_points=[[[30, 20]]], input_boxes=[[[4, 6, 60, 40]]])
    assert_matches(loaded(LANDSCAPE, return_tensors="np", **prompts), reference(hf, LANDSCAPE, **prompts))
    transformers.SamProcessor(transformers.SamImageProcessor()).save_pretrained(tmp_path / "hf")
    assert SamProcessor.from_pretrained(tmp_path / "hf").image_processor.to_dict() == ours.image_processor.to_dict()
    assert isinstance(SamProcessor().image_processor, SamImageProcessor)


def test_post_process_masks_delegates(ours):
    logits = RNG.standard_normal((1, 1, 3, 256, 256)).astype(np.float32)
    inputs = ours(LANDSCAPE)
    masks = ours.post_process_masks(torch.from_numpy(logits), inputs["original_sizes"], inputs["reshaped_input_sizes"])
    direct = ours.image_processor.post_process_masks(logits, inputs["original_sizes"], inputs["reshaped_input_sizes"])
    assert isinstance(masks[0], torch.Tensor) and masks[0].shape == (1, 3, 48, 80)
    np.testing.assert_array_equal(masks[0].numpy(), direct[0])
