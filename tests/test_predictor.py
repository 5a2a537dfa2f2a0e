"""SamPredictor: Meta's semantics (against segment-anything in .venv-meta), the drop-in model contract
(sam_torch and transformers' SamModel give the same predictions), and bad inputs.

Prompts are in original-image pixels on a small odd-sized image; the model is tiny with informative random
weights (tests/oracles/meta_runner.py).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sam_core.predictor import ImageNotSetError, SamPredictor
from sam_torch import ModelBackend
from tests.helpers.images import synthetic_image
from tests.oracles.meta_runner import META_SKIP_REASON, meta_available, run_meta, tf_twin, tiny_model

torch = pytest.importorskip("torch")

#: Logits (low-res and full-size) against Meta: max|Δ| <= rtol * max(1, max|ref|) (fp32 accumulation order).
LOGITS_RTOL = 1e-4
#: Predicted IoUs against Meta.
SCORES_ATOL = 1e-4
#: Image embeddings against Meta (the same preprocessing, fp32 encoder).
EMBEDDING_RTOL = 1e-5
#: Binary masks against Meta: pixels whose logit is within rounding of 0 may flip.
MASK_AGREEMENT = 0.999

HEIGHT, WIDTH = 90, 131
POINT = [[40.5, 30.0]]
BOX = [10, 20, 100, 70]
BATCH_POINTS = [[[40, 30]], [[80, 60]], [[5, 5]], [[130, 89]]]


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


@pytest.fixture(scope="module")
def image():
    return synthetic_image(HEIGHT, WIDTH)


@pytest.fixture(scope="module")
def predictor(tiny, image):
    predictor = SamPredictor(tiny[0])
    predictor.set_image(image)
    return predictor


def _close(ours, reference, rtol=LOGITS_RTOL):
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    assert ours.shape == reference.shape
    bound = rtol * max(1.0, float(np.abs(reference).max()))
    diff = float(np.abs(ours - reference).max())
    assert diff <= bound, f"max|Δ| = {diff:.3g} > {bound:.3g}"
    return diff


# ------------------------------------------------------------------------------------------- against Meta
META_TASKS = [
    dict(kind="embedding", name="embedding"),
    dict(kind="predict", name="point", point_coords=POINT, point_labels=[1]),
    dict(kind="predict", name="box_logits", box=BOX, multimask_output=False, return_logits=True),
    dict(kind="predict", name="points_box", point_coords=[[40, 30], [80, 60]], point_labels=[1, 0], box=BOX),
    dict(kind="predict", name="mask_feedback", point_coords=[[40, 30]], point_labels=[1], mask_input_from="point"),
    dict(kind="predict", name="not_a_point", point_coords=[[40, 30], [0, 0]], point_labels=[1, -1]),
    dict(kind="predict_torch", name="batch", point_coords=BATCH_POINTS, point_labels=[[1]] * 4),
    dict(kind="predict_torch", name="batch_boxes", boxes=[BOX, [0, 0, 131, 90]], multimask_output=False),
]


@pytest.fixture(scope="module")
def meta(tiny, image, tmp_path_factory):
    if not meta_available():
        pytest.skip(META_SKIP_REASON)
    _, config, state = tiny
    arrays, _ = run_meta(str(tmp_path_factory.mktemp("meta_predictor")), config, state, image, META_TASKS)
    return arrays


def test_embedding_matches_meta(predictor, meta):
    _close(predictor.get_image_embedding(), meta["embedding/embedding"], rtol=EMBEDDING_RTOL)


def test_point_prompt_matches_meta(predictor, meta):
    masks, scores, low_res = predictor.predict(point_coords=np.array(POINT), point_labels=np.array([1]))
    assert masks.shape == (3, HEIGHT, WIDTH) and masks.dtype == bool
    assert scores.shape == (3,) and low_res.shape == (3, 256, 256)
    _close(low_res, meta["point/low_res"])
    np.testing.assert_allclose(scores, meta["point/scores"], atol=SCORES_ATOL)
    assert np.mean(masks == meta["point/masks"]) >= MASK_AGREEMENT


def test_box_single_mask_logits_match_meta(predictor, meta):
    masks, scores, low_res = predictor.predict(box=np.array(BOX), multimask_output=False, return_logits=True)
    assert masks.shape == (1, HEIGHT, WIDTH) and masks.dtype == np.float32
    _close(masks, meta["box_logits/masks"])
    _close(low_res, meta["box_logits/low_res"])


@pytest.mark.parametrize("name", ["points_box", "not_a_point"])
def test_combined_prompts_match_meta(predictor, meta, name):
    task = next(t for t in META_TASKS if t["name"] == name)
    _, scores, low_res = predictor.predict(
        point_coords=np.array(task["point_coords"]), point_labels=np.array(task["point_labels"]), box=task.get("box")
    )
    _close(low_res, meta[f"{name}/low_res"])
    np.testing.assert_allclose(scores, meta[f"{name}/scores"], atol=SCORES_ATOL)


def test_mask_input_matches_meta(predictor, meta):
    best = meta["point/low_res"][np.argmax(meta["point/scores"])][None]
    _, _, low_res = predictor.predict(point_coords=np.array([[40, 30]]), point_labels=np.array([1]), mask_input=best)
    _close(low_res, meta["mask_feedback/low_res"])


def test_predict_batch_matches_meta_predict_torch(predictor, meta):
    masks, scores, low_res = predictor.predict_batch(
        np.array(BATCH_POINTS, dtype=np.float64), np.ones((4, 1)), return_logits=True
    )
    assert masks.shape == (4, 3, HEIGHT, WIDTH)
    _close(masks, meta["batch/masks"])
    _close(low_res, meta["batch/low_res"])
    np.testing.assert_allclose(scores, meta["batch/scores"], atol=SCORES_ATOL)
    masks, _, low_res = predictor.predict_batch(boxes=np.array([BOX, [0, 0, 131, 90]]), multimask_output=False)
    assert masks.shape == (2, 1, HEIGHT, WIDTH) and masks.dtype == bool
    _close(low_res, meta["batch_boxes/low_res"])


# ------------------------------------------------------------------------------------------- own contract
def test_bgr_and_pil_inputs(tiny, image, predictor):
    other = SamPredictor(tiny[0])
    other.set_image(np.ascontiguousarray(image[..., ::-1]), image_format="BGR")
    np.testing.assert_array_equal(other.get_image_embedding(), predictor.get_image_embedding())
    other.set_image(Image.fromarray(image))
    np.testing.assert_array_equal(other.get_image_embedding(), predictor.get_image_embedding())


def test_predict_batch_equals_single_predictions(predictor):
    points = np.array(BATCH_POINTS, dtype=np.float64)
    _, scores, low_res = predictor.predict_batch(points, np.ones((4, 1)))
    for index in range(4):
        _, single_scores, single = predictor.predict(points[index], np.ones(1))
        _close(low_res[index], single, rtol=1e-5)
        np.testing.assert_allclose(scores[index], single_scores, atol=1e-5)


def test_predict_batch_per_prompt_mask_inputs(predictor):
    points = np.array(BATCH_POINTS[:3], dtype=np.float64)
    _, _, first = predictor.predict_batch(points, np.ones((3, 1)), multimask_output=False)
    _, _, batched = predictor.predict_batch(points, np.ones((3, 1)), mask_input=first, multimask_output=False)
    for index in range(3):
        _, _, single = predictor.predict(points[index], np.ones(1), mask_input=first[index], multimask_output=False)
        _close(batched[index], single, rtol=1e-5)


def test_transformers_model_is_a_drop_in(tiny, image, predictor):
    """transformers' SamModel has the same API: the same weights give the same predictions."""
    transformers = pytest.importorskip("transformers")
    from tests.helpers.twins import hf_config

    config = hf_config(tiny[1])
    reference = transformers.SamModel(config).eval()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in tiny[2].items()})
    with pytest.raises(TypeError, match="sam_torch.ModelBackend"):
        SamPredictor(reference)  # a foreign model is wrapped explicitly
    other = SamPredictor(ModelBackend(reference))
    other.set_image(image)
    _close(other.get_image_embedding(), predictor.get_image_embedding(), rtol=EMBEDDING_RTOL)
    _, scores, low_res = other.predict(np.array(POINT), np.array([1]), box=np.array(BOX))
    _, ref_scores, ref_low_res = predictor.predict(np.array(POINT), np.array([1]), box=np.array(BOX))
    _close(low_res, ref_low_res)


def test_keras_backend_matches_torch(tiny, image, predictor):
    """The same SamPredictor code drives sam_tf.TFSamModel: same weights, same predictions."""
    other = SamPredictor(tf_twin(tiny[1], tiny[2]))
    assert type(other.backend).__module__ == "sam_tf.backend"
    other.set_image(image)
    _close(other.get_image_embedding(), predictor.get_image_embedding(), rtol=EMBEDDING_RTOL)
    points, boxes = np.array(BATCH_POINTS[:2], dtype=np.float64), np.array([BOX, [0, 0, 50, 50]])
    ours = other.predict_batch(points, np.ones((2, 1)), boxes=boxes, return_logits=True)
    reference = predictor.predict_batch(points, np.ones((2, 1)), boxes=boxes, return_logits=True)
    for a, b in zip(ours, reference):
        _close(a, b)
    feedback = reference[2][:, :1]
    ours = other.predict_batch(points, np.ones((2, 1)), mask_input=feedback, multimask_output=False)
    reference = predictor.predict_batch(points, np.ones((2, 1)), mask_input=feedback, multimask_output=False)
    _close(ours[2], reference[2])
    masks, scores, low_res = other.predict(np.array(POINT), np.array([1]))
    assert masks.shape == (3, HEIGHT, WIDTH) and masks.dtype == bool and scores.shape == (3,)


def test_image_state(tiny, image):
    predictor = SamPredictor(tiny[0])
    assert not predictor.is_image_set
    predictor.set_image(image)
    assert predictor.is_image_set
    assert predictor.original_size == (HEIGHT, WIDTH)
    assert predictor.input_size == (704, 1024)  # int(90 * 1024 / 131 + 0.5)
    assert predictor.get_image_embedding().shape == (1, 32, 64, 64)
    predictor.reset_image()
    assert not predictor.is_image_set and predictor.features is None


def test_importing_sam_core_does_not_import_frameworks():
    code = (
        "import sys, sam_core.predictor, sam_core.mask_generator, sam_core.amg, sam_core.backend, sam_core.evaluation\n"
        "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------- bad inputs
def test_predict_before_set_image(tiny):
    predictor = SamPredictor(tiny[0])
    with pytest.raises(ValueError, match="set_image"):
        predictor.predict(np.array(POINT), np.array([1]))
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.get_image_embedding()
    assert issubclass(ImageNotSetError, ValueError)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 10), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((10, 10, 4), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((3, 10, 10), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
    ],
)
def test_bad_images(tiny, bad, message):
    with pytest.raises(ValueError, match=message):
        SamPredictor(tiny[0]).set_image(bad)


def test_bad_image_format(tiny, image):
    with pytest.raises(ValueError, match="image_format"):
        SamPredictor(tiny[0]).set_image(image, image_format="RGBA")
    with pytest.raises(TypeError):
        SamPredictor(tiny[0]).set_image([[1, 2, 3]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(point_coords=np.array(POINT)), "together"),
        (dict(point_labels=np.array([1])), "together"),
        (dict(point_coords=np.array([1.0, 2.0]), point_labels=np.array([1])), r"\(N, 2\)"),
        (dict(point_coords=np.array(POINT), point_labels=np.array([1, 1])), "point_labels"),
        (dict(point_coords=np.array(POINT), point_labels=np.array([2])), "point_labels"),
        (dict(point_coords=np.array([[np.nan, 1.0]]), point_labels=np.array([1])), "NaN"),
        (dict(box=np.array([-5, 0, 10, 10])), "inside"),
        (dict(box=np.array([0, 0, WIDTH + 1, 10])), "inside"),
        (dict(box=np.array([0, 0, 10, HEIGHT + 0.5])), "inside"),
        (dict(box=np.array([20, 0, 10, 10])), "x0 <= x1"),
        (dict(box=np.array([0, 0, 10])), r"\(4,\)"),
        (dict(box=np.zeros((2, 4))), r"\(4,\) or \(1, 4\)"),
        (dict(box=np.array(BOX), mask_input=np.zeros((256, 256))), "mask_input"),
        (dict(box=np.array(BOX), mask_input=np.zeros((1, 1, 256, 256))), "mask_input"),
        (dict(box=np.array(BOX), mask_input=np.zeros((1, 128, 128))), "mask_input"),
    ],
)
def test_bad_prompts(predictor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        predictor.predict(**kwargs)


def test_bad_batch_prompts(predictor):
    with pytest.raises(ValueError, match="agree"):
        predictor.predict_batch(np.zeros((2, 1, 2)), np.ones((2, 1)), boxes=np.array([BOX] * 3))
    with pytest.raises(ValueError, match="mask_input"):
        predictor.predict_batch(np.zeros((2, 1, 2)), np.ones((2, 1)), mask_input=np.zeros((3, 1, 256, 256)))
    with pytest.raises(ValueError, match=r"\(P, N, 2\)"):
        predictor.predict_batch(np.zeros((2, 2)), np.ones((2, 1)))
