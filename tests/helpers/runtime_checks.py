"""Checks shared by the runtime backends' tests (``tests/test_onnx_export.py``, ``tests/test_tflite_export.py``): a
runtime backend on an export against the framework model it came from, through SamPredictor and the mask
generator, and ``dualsam segment|generate --backend RUNTIME`` importing no framework."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from sam_core.image_transforms import preprocess_shape, upscale_masks
from sam_core.onnx_signature import decoder_feeds
from sam_core.predictor import SamPredictor
from tests.helpers.tolerances import OUTPUT_RTOL, assert_outputs_close

#: The tiny test model's input side and low-res mask side.
SIDE, LOW_RES = 1024, 256
_RNG = np.random.default_rng(11)
#: Point prompts of the decoder tests (S-frame xy, labels), one with a -1 padding point among them.
POINT_CASES = {
    "1 point": (_RNG.uniform(0, SIDE, (1, 2)), np.array([1])),
    "2 points": (_RNG.uniform(0, SIDE, (2, 2)), np.array([1, 0])),
    "5 points": (_RNG.uniform(0, SIDE, (5, 2)), np.array([1, 0, 1, 1, 0])),
    "3 points, -1 padding": (_RNG.uniform(0, SIDE, (3, 2)), np.array([1, -1, 0])),
}
#: (prompt, with a mask input, orig_im_size) of the decoder tests: 1, 2 and 5 points, -1 padding, a box, points and
#: a box, with and without a mask input, on non-square original sizes.
DECODER_CASES = [
    ("1 point", False, (300, 700)),
    ("1 point", True, (683, 512)),
    ("2 points", False, (683, 512)),
    ("5 points", True, (300, 700)),
    ("3 points, -1 padding", False, (500, 500)),
    ("box", False, (683, 512)),
    ("box", True, (300, 700)),
    ("2 points + box", False, (300, 700)),
]

#: Image-pixel prompts on the 45 x 67 test image: a point; two points and a box.
PREDICTOR_PROMPTS = [
    {"point_coords": np.array([[20.5, 14.0]]), "point_labels": np.array([1])},
    {"point_coords": np.array([[20.5, 14.0], [50, 33]]), "point_labels": np.array([1, 0]),
     "box": np.array([6, 4, 60, 40])},
]  # fmt: skip


def assert_decoder_matches(
    run: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, ...]],
    reference: Callable[[dict[str, Any]], tuple[np.ndarray, np.ndarray]],
    embedding: np.ndarray,
    prompt: str,
    with_mask: bool,
    orig_size: tuple[int, int],
) -> None:
    """Meta's decoder inputs (labels 2, 3 for the box, a -1 padding point without one) for one of DECODER_CASES
    through ``run`` (feeds -> masks, iou_predictions, low_res_masks) against the source model (``reference``: case
    -> every mask token's logits and IoU): the low-res logits and IoU, and the masks upscaled to orig_im_size."""
    points, labels = POINT_CASES.get(prompt.split(" + ")[0], (None, None))
    box = np.array([0.1, 0.2, 0.6, 0.5]) * SIDE if "box" in prompt else None
    mask = np.random.default_rng(2).standard_normal((1, 1, LOW_RES, LOW_RES)).astype(np.float32) * 4
    case = {"points": points, "labels": labels, "box": box, "mask": mask if with_mask else None}
    feeds = decoder_feeds(embedding, **case, orig_size=orig_size, low_res_size=LOW_RES)
    expected_points = (0 if points is None else len(points)) + (2 if box is not None else 1)
    assert feeds["point_coords"].shape == (1, expected_points, 2)
    masks, iou, low_res = run(feeds)
    ref_logits, ref_iou = reference(case)
    assert low_res.shape == (1, 4, LOW_RES, LOW_RES) and iou.shape == (1, 4) and masks.shape == (1, 4, *orig_size)
    assert_outputs_close(low_res, ref_logits, OUTPUT_RTOL, "low_res_masks")
    assert_outputs_close(iou, ref_iou, OUTPUT_RTOL, "iou_predictions")
    ref_masks = upscale_masks(ref_logits, orig_size, preprocess_shape(orig_size, SIDE), (SIDE, SIDE))
    assert_outputs_close(masks, ref_masks, OUTPUT_RTOL, "masks")


def assert_predictor_matches(backend: Any, model: Any, image: np.ndarray) -> None:
    """SamPredictor on ``backend`` against SamPredictor on ``model``: the embedding; masks logits, scores and
    low-res logits of each prompt with and without multimask output and then with its own low-res mask as
    mask_input; two boxes in one predict_batch call. Each within OUTPUT_RTOL."""
    ours, reference = SamPredictor(backend), SamPredictor(model)
    ours.set_image(image)
    reference.set_image(image)
    assert_outputs_close(ours.get_image_embedding(), reference.get_image_embedding(), OUTPUT_RTOL, "embedding")
    for prompt in PREDICTOR_PROMPTS:
        for multimask in (True, False):
            got = ours.predict(**prompt, multimask_output=multimask, return_logits=True)
            want = reference.predict(**prompt, multimask_output=multimask, return_logits=True)
            for name, a, b in zip(("masks", "scores", "low_res"), got, want):
                assert_outputs_close(a, b, OUTPUT_RTOL, name)
            mask_input = got[2][:1]  # (1, L, L)
            again = ours.predict(**prompt, mask_input=mask_input, multimask_output=False, return_logits=True)
            expected = reference.predict(**prompt, mask_input=mask_input, multimask_output=False, return_logits=True)
            for name, a, b in zip(("masks", "scores", "low_res"), again, expected):
                assert_outputs_close(a, b, OUTPUT_RTOL, f"{name} with mask_input")
    boxes = np.array([[6, 4, 60, 40], [2, 3, 30, 20]])  # two prompts in one call
    got = ours.predict_batch(boxes=boxes, return_logits=True)
    want = reference.predict_batch(boxes=boxes, return_logits=True)
    for name, a, b in zip(("masks", "scores", "low_res"), got, want):
        assert a.shape[:2] == (2, 3)
        assert_outputs_close(a, b, OUTPUT_RTOL, f"batched {name}")


def assert_generator_matches(backend: Any, model: Any, image: np.ndarray) -> None:
    """SamAutomaticMaskGenerator on ``backend`` and on ``model`` (4 x 4 points, no thresholds): the same records,
    IoUs within 1e-4, masks agreeing on >= 99.9% of pixels."""
    from sam_core import SamAutomaticMaskGenerator

    options = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    ours = SamAutomaticMaskGenerator(backend, **options).generate(image)
    reference = SamAutomaticMaskGenerator(model, **options).generate(image)
    assert len(ours) == len(reference) > 0
    for a, b in zip(ours, reference):
        assert abs(a["predicted_iou"] - b["predicted_iou"]) <= 1e-4
        assert np.mean(a["segmentation"] == b["segmentation"]) >= 0.999


def assert_cli_imports_no_framework(backend: str, export_dir: str, image_path: str, out_dir: str) -> None:
    """``dualsam segment|generate --backend BACKEND`` in a fresh process with torch and TensorFlow installed:
    neither is imported (nor keras)."""
    script = (
        "import sys\n"
        "from dualsam.cli import main\n"
        f"assert main(['segment', {image_path!r}, '--point', '20,14', '--backend', {backend!r}, '--model', "
        f"{export_dir!r}, '--out', {out_dir + '/s'!r}]) == 0\n"
        f"assert main(['generate', {image_path!r}, '--points-per-side', '2', '--backend', {backend!r}, '--model', "
        f"{export_dir!r}, '--out', {out_dir + '/g'!r}, '--no-progress']) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'tensorflow', 'keras', 'jax'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
