"""Backend-neutral held-out evaluation (sam_core.evaluation): the bookkeeping on duck-typed scenes, SamPredictor's
path against the trainer's SamProcessor path on torch, and torch against Keras twins.

Models are tiny with informative random weights (tests/sam_weights.py); scenes are small (256-384 px).

Shape legend: O objects in a scene, H x W image.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sam_core.amg.transforms import normalize_and_pad, resize_longest_side
from sam_core.evaluation import evaluate_model, evaluate_predictions, predictor_fn, scene_prompts
from sam_core.synthetic import make_scene
from tests.helpers.independent_scenes import independent_scenes
from tests.helpers.sam_weights import informative_state, tiny_config
from tests.helpers.tolerances import PIXEL_ATOL, assert_masks_agree

torch = pytest.importorskip("torch")

#: mIoU of two paths that agree up to float rounding.
MIOU_ATOL = 1e-3
SCENE_SEEDS = (0, 1)
SMALL = dict(long_side=(256, 384))


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(seed, **SMALL) for seed in SCENE_SEEDS]


@pytest.fixture(scope="module")
def torch_model():
    from sam_torch import SamModel

    model = SamModel(tiny_config())
    state = informative_state({k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return model.eval()


def _oracle(scene, points, boxes):
    return np.stack(scene.masks), np.stack(scene.masks)


# ---------------------------------------------------------------------------------------------------- bookkeeping
def test_scene_prompts_on_a_duck_typed_scene():
    mask = np.zeros((40, 61), dtype=bool)
    mask[10:20, 30:50] = True  # 10 rows x 20 columns
    scene = SimpleNamespace(image=np.zeros((40, 61, 3), np.uint8), masks=[mask])
    points, boxes = scene_prompts(scene)
    # Distance 5 to the boundary first reached (row-major) at row 14, column 34.
    np.testing.assert_array_equal(points, [[34, 14]])
    np.testing.assert_array_equal(boxes, [[30, 10, 49, 19]])
    assert points.dtype == boxes.dtype == np.float64


def test_oracle_scores_one_on_an_independent_generators_scenes():
    scenes = independent_scenes(7, 2)
    result = evaluate_predictions(scenes, _oracle)
    assert result.point_miou == 1.0 and result.box_miou == 1.0
    assert result.num_objects == sum(len(s.masks) for s in scenes)


# ---------------------------------------------------------------------------------------------------- torch paths
def test_predictor_fn_matches_the_trainers_processor_path(torch_model, scenes):
    """SamPredictor normalizes in 0-255 units (Meta) where SamProcessor rescales by 1/255 first (HF): the pixel
    values differ by float rounding only (measured <= 4.8e-7), full-size logits by <= 1e-5 of ~5, and on these
    scenes (and 8 measured) no mask pixel flips."""
    from sam_torch.training.data import processor_for_config
    from sam_torch.training.evaluate import model_predictor

    processor = processor_for_config(torch_model.config)
    for scene in scenes:
        pixels = processor(images=[scene.image])["pixel_values"]
        ours = normalize_and_pad(resize_longest_side(scene.image, torch_model.config.vision_config.image_size),
                                 torch_model.config.vision_config.image_size)  # fmt: skip
        np.testing.assert_allclose(ours, pixels, rtol=0, atol=PIXEL_ATOL)

    by_processor = model_predictor(torch_model, processor)
    by_predictor = predictor_fn(torch_model)
    for scene in scenes:
        points, boxes = scene_prompts(scene)
        expected = by_processor(scene, points, boxes)
        got = by_predictor(scene, points, boxes)
        shape = (len(scene.masks), *scene.image.shape[:2])
        for masks, reference in zip(got, expected):
            assert masks.shape == shape and masks.dtype == bool
            assert_masks_agree(masks, reference)
    reference = evaluate_predictions(scenes, by_processor)
    result = evaluate_model(torch_model, scenes)
    assert abs(result.point_miou - reference.point_miou) <= MIOU_ATOL
    assert abs(result.box_miou - reference.box_miou) <= MIOU_ATOL


# ---------------------------------------------------------------------------------------------------- keras twin
def test_torch_and_keras_twins_give_the_same_evaluation(scenes):
    pytest.importorskip("keras")
    from tests.helpers.tf_twins import make_tf_twins

    tf_model, torch_twin, _ = make_tf_twins(tiny_config())
    torch_twin.eval()
    by_torch, by_tf = predictor_fn(torch_twin), predictor_fn(tf_model)
    for scene in scenes:
        points, boxes = scene_prompts(scene)
        for masks, reference in zip(by_tf(scene, points, boxes), by_torch(scene, points, boxes)):
            assert_masks_agree(masks, reference)
    on_torch, on_tf = evaluate_model(torch_twin, scenes), evaluate_model(tf_model, scenes)
    assert on_tf.num_objects == on_torch.num_objects == sum(len(s.masks) for s in scenes)
    assert abs(on_tf.point_miou - on_torch.point_miou) <= MIOU_ATOL
    assert abs(on_tf.box_miou - on_torch.box_miou) <= MIOU_ATOL
