"""SamImageProcessor against transformers' SamImageProcessor on the same inputs: pixels, sizes, segmentation
labels, mask post-processing, the numpy bilinear resize, return kinds and preprocessor_config.json round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sam_core import SamImageProcessor
from sam_core.image_processing import IMAGE_PROCESSOR_NAME
from sam_core.image_transforms import bilinear_matrix, preprocess_shape
from sam_core.tensors import BatchFeature
from tests.helpers.tolerances import MASK_AGREEMENT, PIXEL_ATOL

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

#: Upscaled mask logits: a folded (one-matrix) resize vs torch's two float32 interpolations.
LOGIT_ATOL = 1e-4
#: The bilinear interpolation matrices against torch.nn.functional.interpolate.
INTERPOLATE_ATOL = 1e-6

RNG = np.random.default_rng(0)


def uint8_image(height: int, width: int, channels: int = 3) -> np.ndarray:
    shape = (height, width) if channels == 0 else (height, width, channels)
    return RNG.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def ours() -> SamImageProcessor:
    return SamImageProcessor()


@pytest.fixture(scope="module")
def theirs():
    return transformers.SamImageProcessor()


def compare(ours_out, theirs_out) -> float:
    """Asserts equal sizes and pixels within PIXEL_ATOL; returns max|Δ| of pixel_values."""
    np.testing.assert_array_equal(ours_out["original_sizes"], np.asarray(theirs_out["original_sizes"]))
    np.testing.assert_array_equal(ours_out["reshaped_input_sizes"], np.asarray(theirs_out["reshaped_input_sizes"]))
    a, b = ours_out["pixel_values"], np.asarray(theirs_out["pixel_values"])
    assert a.shape == b.shape and a.dtype == np.float32
    diff = float(np.abs(a - b).max())
    assert diff <= PIXEL_ATOL, diff
    return diff


_BASE = uint8_image(45, 70)
IMAGE_CASES = {
    # name: (our input, the equivalent input transformers accepts)
    "uint8 landscape": (_BASE, _BASE),
    "uint8 portrait": (_BASE.transpose(1, 0, 2).copy(),) * 2,
    "uint8 square": (uint8_image(33, 33),) * 2,
    "chw": (_BASE.transpose(2, 0, 1).copy(),) * 2,
    "float32 in [0, 1]": ((_BASE / 255).astype(np.float32),) * 2,
    "float64 in [0, 1]": (_BASE / 255.0,) * 2,
    "integral float": (_BASE.astype(np.float32),) * 2,
    "int64": (_BASE.astype(np.int64),) * 2,
    "pil rgb": (Image.fromarray(_BASE),) * 2,
    "pil L": (Image.fromarray(_BASE[..., 0]),) * 2,
    "pil RGBA": (Image.fromarray(np.dstack([_BASE, _BASE[..., :1]])),) * 2,
    "pil P": (Image.fromarray(_BASE).convert("P"),) * 2,
    # transformers guesses channels-first for a (3, W, 3) array and gets this PIL image wrong; tell it the layout.
    "pil 3 pixels tall": (Image.fromarray(uint8_image(3, 40)),) * 2 + ({"input_data_format": "channels_last"},),
    "numpy gray 2-D": (_BASE[..., 0], np.repeat(_BASE[..., :1], 3, axis=-1)),
    "numpy gray HW1": (_BASE[..., :1], np.repeat(_BASE[..., :1], 3, axis=-1)),
    "numpy RGBA": (np.dstack([_BASE, _BASE[..., :1]]), _BASE),
    "torch CHW": (torch.from_numpy(_BASE.transpose(2, 0, 1).copy()), _BASE),
    "torch float, requires_grad": (torch.tensor(_BASE / 255.0, requires_grad=True), _BASE / 255.0),
}


@pytest.mark.parametrize("name", sorted(IMAGE_CASES))
def test_pixels_match_transformers(ours, theirs, name):
    mine, reference, *their_kwargs = IMAGE_CASES[name]
    compare(ours(mine, return_tensors="np"), theirs(reference, return_tensors="np", **(their_kwargs or [{}])[0]))


@pytest.mark.parametrize("shape", [(480, 640), (1500, 700)])
def test_real_sizes_match_transformers(ours, theirs, shape):
    image = uint8_image(*shape)
    compare(ours(image, return_tensors="np"), theirs(image, return_tensors="np"))


def test_batch_of_different_sizes(ours, theirs):
    images = [uint8_image(40, 64), Image.fromarray(uint8_image(70, 30))]
    out = ours(images, return_tensors="np")
    assert out["pixel_values"].shape == (2, 3, 1024, 1024)
    np.testing.assert_array_equal(out["original_sizes"], [[40, 64], [70, 30]])
    np.testing.assert_array_equal(out["reshaped_input_sizes"], [[640, 1024], [1024, 439]])
    compare(out, theirs(images, return_tensors="np"))
    compare(ours(np.stack([_BASE, _BASE]), return_tensors="np"), theirs([_BASE, _BASE], return_tensors="np"))


def test_preprocess_overrides_match_transformers(ours, theirs):
    kwargs = dict(do_normalize=False, size={"longest_edge": 512}, pad_size={"height": 600, "width": 512})
    compare(ours(_BASE, return_tensors="np", **kwargs), theirs(_BASE, return_tensors="np", **kwargs))
    kwargs = dict(image_mean=0.5, image_std=0.25, rescale_factor=0.01)
    compare(ours(_BASE, return_tensors="np", **kwargs), theirs(_BASE, return_tensors="np", **kwargs))


def test_no_resize_no_pad_keeps_sizes(ours, theirs):
    image = uint8_image(20, 30)
    out = ours(image, do_resize=False, do_pad=False)
    assert isinstance(out["pixel_values"], np.ndarray) and out["pixel_values"].shape == (1, 3, 20, 30)
    reference = theirs(image, do_resize=False, do_pad=False)["pixel_values"][0]
    np.testing.assert_allclose(out["pixel_values"][0], reference, atol=PIXEL_ATOL)
    ragged = ours([image, uint8_image(10, 10)], do_pad=False)
    assert isinstance(ragged["pixel_values"], list) and ragged["pixel_values"][1].shape == (3, 1024, 1024)
    with pytest.raises(ValueError, match="return_tensors"):
        ours([image, uint8_image(10, 10)], do_pad=False, return_tensors="np")


def test_channels_last_output(ours):
    out = ours(_BASE, data_format="channels_last")
    np.testing.assert_array_equal(out["pixel_values"][0], ours(_BASE)["pixel_values"][0].transpose(1, 2, 0))


MAP_CASES = {
    "pil mode 1": Image.fromarray(RNG.random((45, 70)) > 0.5).convert("1"),
    "uint8 classes": RNG.integers(0, 6, (45, 70), dtype=np.uint8),
    "int64 classes, portrait": RNG.integers(0, 200, (70, 45)),
    "bool": RNG.random((45, 70)) > 0.3,
}


@pytest.mark.parametrize("name", sorted(MAP_CASES))
def test_segmentation_maps_match_transformers(ours, theirs, name):
    seg_map = MAP_CASES[name]
    height, width = np.asarray(seg_map).shape
    image = uint8_image(height, width)
    mine = ours(image, segmentation_maps=seg_map, return_tensors="np")
    reference = theirs(image, segmentation_maps=seg_map, return_tensors="np")
    assert mine["labels"].shape == (1, 256, 256) and mine["labels"].dtype == np.int64
    np.testing.assert_array_equal(mine["labels"], reference["labels"])


def test_segmentation_maps_batch_and_large_labels(ours, theirs):
    maps = [RNG.integers(0, 3, (40, 64)), RNG.integers(0, 3, (70, 30))]
    images = [uint8_image(40, 64), uint8_image(70, 30)]
    mine = ours(images, segmentation_maps=maps, return_tensors="np")
    np.testing.assert_array_equal(mine["labels"], theirs(images, segmentation_maps=maps, return_tensors="np")["labels"])
    stacked = ours([images[0], images[0]], segmentation_maps=np.stack([maps[0], maps[0]]))["labels"]
    np.testing.assert_array_equal(stacked, np.stack([mine["labels"][0]] * 2))
    instance_ids = (RNG.integers(0, 4, (40, 64)) * 1000).astype(np.int32)  # beyond uint8: transformers refuses
    labels = ours(images[0], segmentation_maps=instance_ids)["labels"]
    assert set(np.unique(labels)) <= {0, 1000, 2000, 3000}


@pytest.mark.parametrize("return_tensors", [None, "np", "pt", "tf"])
def test_return_tensors(ours, return_tensors):
    if return_tensors == "tf":
        pytest.importorskip("tensorflow")
    maps = [RNG.integers(0, 2, (45, 70)), RNG.integers(0, 2, (30, 20))]
    out = ours([_BASE, uint8_image(30, 20)], segmentation_maps=maps, return_tensors=return_tensors)
    assert isinstance(out, BatchFeature) and out.pixel_values is out["pixel_values"]
    expected_module = {None: "numpy", "np": "numpy", "pt": "torch", "tf": "tensorflow"}[return_tensors]
    for key, shape in [("pixel_values", (2, 3, 1024, 1024)), ("original_sizes", (2, 2)),
                       ("reshaped_input_sizes", (2, 2)), ("labels", (2, 256, 256))]:  # fmt: skip
        value = out[key]
        assert type(value).__module__.startswith(expected_module), (key, type(value))
        assert tuple(value.shape) == shape
    assert "float32" in str(out["pixel_values"].dtype) and "int64" in str(out["original_sizes"].dtype)
    assert out.to("cpu") is out


def test_batch_feature_to_casts_only_floats(ours):
    out = ours(_BASE, return_tensors="pt").to(torch.float16)
    assert out["pixel_values"].dtype == torch.float16 and out["original_sizes"].dtype == torch.int64


# ----------------------------------------------------------------------------------------- post-processing


@pytest.mark.parametrize(
    "in_size, out_size", [(256, 1024), (256, 257), (683, 1000), (1024, 333), (1024, 4000), (5, 3), (1, 4)]
)
def test_bilinear_matrix_matches_torch(in_size, out_size):
    x = RNG.standard_normal((1, 1, in_size, 3)).astype(np.float32)
    expected = torch.nn.functional.interpolate(torch.from_numpy(x), (out_size, 3), mode="bilinear", align_corners=False)
    mine = bilinear_matrix(in_size, out_size).astype(np.float32) @ x[0, 0]
    assert np.abs(mine - expected[0, 0].numpy()).max() <= INTERPOLATE_ATOL


def smooth_logits(batch: int, prompts: int, masks: int) -> np.ndarray:
    """Mask-like logits: upsampled coarse noise, so there are real boundaries crossing the threshold."""
    coarse = torch.from_numpy(RNG.standard_normal((batch * prompts, masks, 16, 16)).astype(np.float32) * 8)
    fine = torch.nn.functional.interpolate(coarse, (256, 256), mode="bilinear", align_corners=False).numpy()
    return fine.reshape(batch, prompts, masks, 256, 256)


#: (original_sizes, reshaped_input_sizes) of two images: 300x500 (landscape) and 1024x683 (portrait).
POST_SIZES = ([[300, 500], [1024, 683]], [[614, 1024], [1024, 683]])


@pytest.fixture(scope="module")
def post_case(theirs):
    logits = smooth_logits(2, 2, 3)
    originals, reshaped = (np.asarray(v) for v in POST_SIZES)
    reference = theirs.post_process_masks(torch.from_numpy(logits), torch.from_numpy(originals),
                                          torch.from_numpy(reshaped), binarize=False)  # fmt: skip
    return logits, originals, reshaped, [r.numpy() for r in reference]


def test_post_process_logits_and_masks_match_transformers(ours, post_case):
    logits, originals, reshaped, reference = post_case
    up = ours.post_process_masks(logits, originals, reshaped, binarize=False)
    masks = ours.post_process_masks(logits, originals, reshaped)
    for mine, binary, ref, size in zip(up, masks, reference, originals):
        assert mine.shape == (2, 3, *size) and mine.dtype == np.float32 and binary.dtype == np.bool_
        assert np.abs(mine - ref).max() <= LOGIT_ATOL * max(1.0, np.abs(ref).max())
        agreement = np.mean(binary == (ref > 0.0))
        assert agreement >= MASK_AGREEMENT, agreement


def test_post_process_returns_the_kind_it_was_given(ours, post_case):
    logits, originals, reshaped, _ = post_case
    as_torch = [torch.from_numpy(v) for v in (logits, originals, reshaped)]
    from_torch = ours.post_process_masks(*as_torch)
    from_list = ours.post_process_masks(list(logits), originals.tolist(), reshaped.tolist())
    from_numpy = ours.post_process_masks(logits, originals, reshaped)
    assert all(isinstance(m, torch.Tensor) and m.dtype == torch.bool for m in from_torch)
    assert all(isinstance(m, np.ndarray) for m in from_list)
    for a, b, c in zip(from_torch, from_list, from_numpy):
        np.testing.assert_array_equal(a.numpy(), c)
        np.testing.assert_array_equal(b, c)
    as_numpy = ours.post_process_masks(torch.from_numpy(logits), originals, reshaped, return_tensors="np")
    assert isinstance(as_numpy[0], np.ndarray)
    as_torch = ours.post_process_masks(logits, originals, reshaped, return_tensors="pt", binarize=False)
    assert isinstance(as_torch[0], torch.Tensor) and as_torch[0].dtype == torch.float32


def test_post_process_tf(ours, post_case):
    tf = pytest.importorskip("tensorflow")
    logits, originals, reshaped, _ = post_case
    out = ours.post_process_masks(tf.constant(logits), tf.constant(originals), tf.constant(reshaped))
    assert all(isinstance(m, tf.Tensor) and m.dtype == tf.bool for m in out)
    np.testing.assert_array_equal(out[1].numpy(), ours.post_process_masks(logits, originals, reshaped)[1])


def test_post_process_threshold_and_pad_size(ours, theirs):
    logits = smooth_logits(1, 1, 1)
    kwargs = dict(mask_threshold=2.0, pad_size={"height": 512, "width": 512})
    mine = ours.post_process_masks(logits, [[100, 60]], [[512, 307]], **kwargs)[0]
    ref = theirs.post_process_masks(torch.from_numpy(logits), [[100, 60]], [[512, 307]], **kwargs)[0].numpy()
    assert np.mean(mine == ref) >= MASK_AGREEMENT


# ----------------------------------------------------------------------------------------- public helpers


def test_resize_and_pad_image_match_transformers(ours, theirs):
    for image in (_BASE, _BASE.transpose(2, 0, 1).copy()):
        resized = ours.resize(image, {"longest_edge": 100})
        np.testing.assert_array_equal(resized, theirs.resize(image, {"longest_edge": 100}, resample=2))
        padded = ours.pad_image(resized, {"height": 120, "width": 110})
        np.testing.assert_array_equal(padded, theirs.pad_image(resized, {"height": 120, "width": 110}))
    assert preprocess_shape((45, 70), 1024) == (658, 1024)


# ----------------------------------------------------------------------------------------- serialization


def test_save_load_round_trip_both_ways(tmp_path, theirs):
    custom = SamImageProcessor(do_normalize=False, size={"longest_edge": 512}, pad_size=512, my_key="kept")
    custom.save_pretrained(tmp_path / "ours")
    written = json.loads((tmp_path / "ours" / IMAGE_PROCESSOR_NAME).read_text())
    assert written["image_processor_type"] == "SamImageProcessor" and written["my_key"] == "kept"
    loaded = SamImageProcessor.from_pretrained(tmp_path / "ours")
    assert loaded.to_dict() == custom.to_dict()
    hf_loaded = transformers.SamImageProcessor.from_pretrained(tmp_path / "ours")
    compare(custom(_BASE, return_tensors="np"), hf_loaded(_BASE, return_tensors="np"))

    transformers.SamImageProcessor(do_rescale=False, mask_size={"longest_edge": 128}).save_pretrained(tmp_path / "hf")
    mine = SamImageProcessor.from_pretrained(tmp_path / "hf")
    assert mine.do_rescale is False and mine.mask_size == {"longest_edge": 128} and mine.resample == 2
    assert SamImageProcessor.from_pretrained(tmp_path / "hf", do_rescale=True).do_rescale is True
    assert SamImageProcessor.from_pretrained("sam-vit-base").to_dict() == SamImageProcessor().to_dict()
