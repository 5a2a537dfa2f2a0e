"""dualsam's use-case functions (what the CLI, batch runs and a server share): prompt checks that name the
argument, results equal to the predictor's, AMG options from the generator's signature."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from dualsam import AMG_DEFAULTS, generate_masks, segment_image
from dualsam.cli import build_parser
from dualsam.segment import check_prompts
from sam_core.frameworks import BackendMissingError, install_hint, require_backend
from sam_core.mask_generator import SamAutomaticMaskGenerator
from sam_core.predictor import SamPredictor
from tests.helpers.cli_helpers import image_file, tiny  # noqa: F401 (pytest fixtures used as arguments)


@pytest.mark.parametrize(
    "points, labels, box, match",
    [
        ([[70, 3]], None, None, "points: 70,3 lies outside the 67x45 image"),
        ([[float("nan"), 3]], None, None, "points: nan,3 lies outside"),
        ([[3, 3]], [2], None, "labels must hold one 1"),
        ([[3, 3]], [1, 0], None, "labels must hold one 1"),
        ([1, 2, 3], None, None, "points must be a list of"),
        (None, None, [10, 10, 5, 20], "box must be .* x1 < x2"),
        (None, None, [10, 10, 20, 50], "box: 10,10,20,50 lies outside"),
        (None, None, None, "at least one prompt"),
    ],
)
def test_bad_prompts_name_the_argument(points, labels, box, match):
    with pytest.raises(ValueError, match=match):
        check_prompts(points, labels, box, (45, 67))


def test_segment_image_is_the_predictors_answer(tiny, image_file):
    _, model, _ = tiny
    image = image_file[1]
    predictor = SamPredictor(model)
    result = segment_image(predictor, image, points=[[20.5, 14]], labels=[1], box=[6, 4, 60, 40], multimask=True)
    reference = SamPredictor(model)
    reference.set_image(image)
    masks, scores, low_res = reference.predict(
        np.array([[20.5, 14]]), np.array([1]), box=np.array([6, 4, 60, 40]), multimask_output=True
    )
    np.testing.assert_array_equal(result.masks, masks)
    np.testing.assert_array_equal(result.scores, scores)
    assert result.areas == [int(m.sum()) for m in masks]
    assert result.best == int(np.argmax(scores))
    # The encode-once pattern: no image, the one already set, and the previous low-res mask as a prompt.
    again = segment_image(predictor, points=[[20.5, 14]], mask_input=result.low_res_logits[result.best][None])
    expected, _, _ = reference.predict(
        np.array([[20.5, 14]]), np.array([1]), mask_input=low_res[int(np.argmax(scores))][None],
        multimask_output=False,
    )  # fmt: skip
    np.testing.assert_array_equal(again.masks, expected)
    with pytest.raises(ValueError, match="image: no image given"):
        segment_image(SamPredictor(model), points=[[1, 1]])


def test_generate_masks_checks_its_options(tiny, image_file):
    _, model, _ = tiny
    with pytest.raises(TypeError, match="unknown mask-generator option.*points_per_sid"):
        generate_masks(model, image_file[1], points_per_sid=4)
    records = generate_masks(model, image_file[1], points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    direct = SamAutomaticMaskGenerator(
        model, points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0, output_mode="coco_rle"
    ).generate(image_file[1])
    assert [r["segmentation"] for r in records] == [r["segmentation"] for r in direct]


def test_cli_amg_defaults_are_the_generators():
    signature = inspect.signature(SamAutomaticMaskGenerator.__init__).parameters
    assert AMG_DEFAULTS == {name: signature[name].default for name in AMG_DEFAULTS}
    args = build_parser().parse_args(["generate"])
    for name, default in AMG_DEFAULTS.items():
        assert getattr(args, name) == default, name


def test_a_missing_backend_names_its_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    with pytest.raises(BackendMissingError, match=r"pip install 'dualsam\[tf\]'$"):
        require_backend("tf", "a test")
    require_backend("torch")
    assert install_hint("torch") == "pip install 'dualsam[torch]'"
    with pytest.raises(ValueError, match="backend must be one of torch, tf"):
        require_backend("jax")
