"""The converter against Meta's segment-anything (the real package, run in .venv-meta by subprocess).

Meta's own code builds Sam, gives it informative random weights and saves its ``state_dict()`` as .pth; the CLI
converts that file to both backends; dualsam's SamModel and TFSamModel, loaded from the output with from_pretrained
and driven by sam_core's SamPredictor, must match Meta's SamPredictor on the image embeddings and on the low-res mask
logits and IoUs for point, box, point+box and mask_input prompts, multimask on and off:
max|Δ| <= OUTPUT_RTOL * max(1, max|ref|). The tiny model runs by default; the ViT-B-shaped one is slow and also
checks that its architecture is inferred from the shapes alone (no --config).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from sam_core import SamConfig
from sam_core.predictor import SamPredictor
from sam_torch import ModelBackend
from tests.helpers.images import synthetic_image
from tests.helpers.sam_weights import tiny_config
from tests.helpers.tolerances import OUTPUT_RTOL, assert_outputs_close
from tests.oracles.meta_runner import META_SKIP_REASON, meta_available
from weights_convert.cli import main as convert_main

POINT, BOX = [[40.5, 30.0]], [10.0, 20.0, 100.0, 70.0]
#: Meta's predict tasks and the same prompts for SamPredictor: name -> (point_coords, point_labels, box, mask_from).
PROMPTS = {
    "point": (POINT, [1], None, None),
    "box": (None, None, BOX, None),
    "point_box": ([[40.0, 30.0], [80.0, 60.0]], [1, 0], BOX, None),
    "point_mask": (POINT, [1], None, "point_multi"),
}


def meta_tasks() -> list[dict]:
    tasks = [dict(kind="embedding", name="embedding")]
    for name, (points, labels, box, mask_from) in PROMPTS.items():
        for multimask in (True, False):
            tasks.append(
                dict(kind="predict", name=f"{name}_{'multi' if multimask else 'single'}", point_coords=points,
                     point_labels=labels, box=box, mask_input_from=mask_from, multimask_output=multimask)
            )  # fmt: skip
    return tasks


def _array(value) -> np.ndarray | None:
    return None if value is None else np.array(value)


def compare_with_meta(model, image: np.ndarray, meta: dict[str, np.ndarray]) -> dict[str, float]:
    """Runs every task's prompts on ``model`` through SamPredictor; asserts closeness; returns name -> max|Δ|."""
    predictor = SamPredictor(model)
    predictor.set_image(image)
    embedding = predictor.get_image_embedding()
    diffs = {"embedding": assert_outputs_close(embedding, meta["embedding/embedding"], name="embedding")}
    for name, (points, labels, box, mask_from) in PROMPTS.items():
        for multimask in (True, False):
            task = f"{name}_{'multi' if multimask else 'single'}"
            mask_input = None
            if mask_from:
                best = int(np.argmax(meta[f"{mask_from}/scores"]))
                mask_input = meta[f"{mask_from}/low_res"][best][None]
            _, scores, low_res = predictor.predict(
                point_coords=_array(points), point_labels=_array(labels), box=_array(box), mask_input=mask_input,
                multimask_output=multimask,
            )  # fmt: skip
            diffs[f"{task}/low_res_logits"] = assert_outputs_close(
                low_res, meta[f"{task}/low_res"], name=f"{task} logits"
            )
            diffs[f"{task}/iou"] = assert_outputs_close(scores, meta[f"{task}/scores"], name=f"{task} iou")
    return diffs


def convert_meta(tmp_path, image, config: SamConfig, *, registry: str | None, config_arg: str | None):
    """Meta makes the checkpoint and the reference outputs; the CLI converts it to both backends."""
    from tests.oracles.meta_convert_runner import meta_checkpoint_and_outputs

    checkpoint, meta = meta_checkpoint_and_outputs(str(tmp_path), config, image, meta_tasks(), registry=registry)
    dst = os.path.join(tmp_path, "converted")
    args = [checkpoint, dst, "--to", "both", "--no-progress"] + (["--config", config_arg] if config_arg else [])
    assert convert_main(args) == 0
    return dst, meta


def _check_both_backends(dst: str, image: np.ndarray, meta: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    from sam_torch import SamModel

    results = {"torch": _report("torch", compare_with_meta(SamModel.from_pretrained(dst), image, meta))}
    pytest.importorskip("keras")
    from sam_tf import TFSamModel

    results["tf"] = _report("tf", compare_with_meta(TFSamModel.from_pretrained(dst), image, meta))
    return results


def _report(backend: str, diffs: dict[str, float]) -> dict[str, float]:
    print(f"\n{backend} vs Meta, max|Δ| (bound {OUTPUT_RTOL} * max(1, |ref|)):")
    for name, diff in diffs.items():
        print(f"  {name:<34} {diff:.3g}")
    return diffs


@pytest.fixture(scope="module")
def tiny_meta(tmp_path_factory):
    if not meta_available():
        pytest.skip(META_SKIP_REASON)
    tmp = tmp_path_factory.mktemp("meta_tiny")
    config = tiny_config()
    config_path = config.save_pretrained(os.path.join(tmp, "config"))
    image = synthetic_image(90, 131)
    dst, meta = convert_meta(tmp, image, config, registry=None, config_arg=config_path)
    return dst, meta, image


def test_tiny_meta_checkpoint_matches_meta_on_both_backends(tiny_meta):
    dst, meta, image = tiny_meta
    _check_both_backends(dst, image, meta)


def test_meta_conversion_uses_metas_decoder_layer_norm_eps(tiny_meta):
    """Meta's TwoWayTransformer norms use torch's default eps 1e-5 (transformers' default is 1e-6)."""
    config = SamConfig.from_pretrained(tiny_meta[0])
    assert config.mask_decoder_config.layer_norm_eps == 1e-5
    assert config.vision_config.layer_norm_eps == 1e-6 and config.prompt_encoder_config.layer_norm_eps == 1e-6


def test_transformers_loads_the_meta_conversion_and_matches_meta(tiny_meta):
    transformers = pytest.importorskip("transformers")
    dst, meta, image = tiny_meta
    reference = transformers.SamModel.from_pretrained(dst).eval()
    assert reference.config.mask_decoder_config.layer_norm_eps == 1e-5
    predictor = SamPredictor(ModelBackend(reference))
    predictor.set_image(image)
    _, scores, low_res = predictor.predict(point_coords=np.array(POINT), point_labels=np.array([1]))
    assert_outputs_close(low_res, meta["point_multi/low_res"], name="transformers point logits")
    assert_outputs_close(scores, meta["point_multi/scores"], name="transformers point iou")


@pytest.mark.slow
def test_vit_b_meta_checkpoint_matches_meta_without_config(tmp_path):
    """Meta's vit_b registry model with random weights; the architecture comes from the shapes only."""
    if not meta_available():
        pytest.skip(META_SKIP_REASON)
    image = synthetic_image(200, 300)
    dst, meta = convert_meta(tmp_path, image, SamConfig.from_preset("sam-vit-base"), registry="vit_b", config_arg=None)
    expected = SamConfig.from_preset("sam-vit-base").to_dict()
    expected["mask_decoder_config"]["layer_norm_eps"] = 1e-5
    assert SamConfig.from_pretrained(dst).to_dict() == expected
    _check_both_backends(dst, image, meta)
