"""The embedded default model (sam_core/data/default_model/): the quality bar of the issue on held-out scenes,
for both prompt kinds and both backends, on our generator's held-out seed and on independently drawn scenes; the
Keras model, loaded from the same files through the converter's readers, within 0.005 mIoU of torch; and the
main job (``dualsam segment`` with no arguments) on the shipped example.

Nothing here is skipped: the model ships with the package and both backends are test dependencies.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from dualsam import models as model_loading
from sam_core.evaluation import EVAL_SEED, evaluate_model
from sam_core.synthetic import SyntheticSceneDataset
from tests.helpers.independent_scenes import independent_scenes

#: The issue's bar: one positive point at each object's most interior pixel (best of 3 masks by predicted IoU),
#: and the object's tight box.
POINT_BAR, BOX_BAR = 0.70, 0.80
#: Keras within this much mIoU of torch.
BACKEND_GAP = 0.005
NUM_SCENES = 200
#: A seed used neither by training (seed 0) nor by its periodic evaluation (EVAL_SEED).
HELD_OUT_SEED = 20_261_124
#: The independent generator's stream (tests/independent_scenes.py).
INDEPENDENT_SEED = 77
MAX_MODEL_BYTES = 20 * 2**20


def _scenes(kind: str):
    if kind == "ours":
        return SyntheticSceneDataset(HELD_OUT_SEED, length=NUM_SCENES)
    return independent_scenes(INDEPENDENT_SEED, NUM_SCENES)


@pytest.fixture(scope="module")
def models():
    """backend -> the default model, each loaded by the CLI's loader (for tf: canonical weights via the converter)."""
    return {backend: model_loading.load_model(None, backend).model for backend in model_loading.BACKENDS}


class _Results(dict):
    """(generator, backend) -> EvalResult, each evaluated on first use (a run that deselects the slow independent
    generator never draws its scenes)."""

    def __init__(self, models: dict) -> None:
        super().__init__()
        self.models = models

    def __missing__(self, key: tuple[str, str]):
        kind, backend = key
        self[key] = evaluate_model(self.models[backend], _scenes(kind))
        return self[key]


@pytest.fixture(scope="module")
def results(models):
    return _Results(models)


#: Our generator's held-out seed runs in the default suite; the independent generator (as many scenes again, about
#: two minutes on two cores) behind the slow marker.
KINDS = ["ours", pytest.param("independent", marks=pytest.mark.slow)]


def test_the_default_model_ships_complete():
    directory = model_loading.DEFAULT_MODEL_DIR
    names = set(os.listdir(directory))
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "TRAINING.md", "training.json",
            "train_log.jsonl", "loss_curve.png"} <= names  # fmt: skip
    assert os.path.getsize(directory / "model.safetensors") <= MAX_MODEL_BYTES
    assert model_loading.default_model_dir() == directory
    with open(directory / "training.json", encoding="utf-8") as handle:
        facts = json.load(handle)
    with open(directory / "train_log.jsonl", encoding="utf-8") as handle:
        steps = [record for record in map(json.loads, handle) if "loss" in record]
    assert steps[-1]["step"] == facts["total_steps"]  # the schedule ran to its end
    assert np.mean([r["loss"] for r in steps[-10:]]) < 0.5 * np.mean([r["loss"] for r in steps[:10]])
    per_segment = {}
    for record in steps:
        per_segment[record["segment"]] = max(per_segment.get(record["segment"], 0.0), record["wall_s"])
    assert sum(per_segment.values()) <= 2 * 3600  # the training budget: 2 hours of wall time


def test_the_held_out_seed_is_fresh():
    assert HELD_OUT_SEED not in (0, EVAL_SEED)


#: What the shipped model measures (both backends, to 4 decimals): our generator's held-out seed, 671 objects:
#: point 0.7643, box 0.8023; the independent generator, 678 objects: point 0.8460, box 0.8708. Less 0.005 for
#: pixels that flip across machines, this catches any regression of the loading, conversion, pre- or
#: post-processing path that the bar alone would let through.
MEASURED_FLOOR = {"ours": (0.7643 - 0.005, 0.8023 - 0.005), "independent": (0.8460 - 0.005, 0.8708 - 0.005)}


@pytest.mark.parametrize("backend", model_loading.BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_quality_bar(results, kind, backend):
    result = results[(kind, backend)]
    assert result.num_objects >= NUM_SCENES
    assert result.point_miou >= POINT_BAR, f"{kind}/{backend} point mIoU {result.point_miou:.4f}"
    assert result.box_miou >= BOX_BAR, f"{kind}/{backend} box mIoU {result.box_miou:.4f}"


@pytest.mark.parametrize("backend", model_loading.BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_measured_quality_holds(results, kind, backend):
    result = results[(kind, backend)]
    point_floor, box_floor = MEASURED_FLOOR[kind]
    assert result.point_miou >= point_floor and result.box_miou >= box_floor, (result.point_miou, result.box_miou)


@pytest.mark.parametrize("kind", KINDS)
def test_keras_within_the_gap_of_torch(results, kind):
    torch_result, tf_result = results[(kind, "torch")], results[(kind, "tf")]
    assert abs(tf_result.point_miou - torch_result.point_miou) <= BACKEND_GAP
    assert abs(tf_result.box_miou - torch_result.box_miou) <= BACKEND_GAP
    # Per object, the two backends agree almost everywhere (masks differ only where a logit rounds across 0).
    assert np.mean(np.abs(tf_result.point_ious - torch_result.point_ious) < 1e-3) >= 0.99
    assert np.mean(np.abs(tf_result.box_ious - torch_result.box_ious) < 1e-3) >= 0.99


def test_main_job_on_the_shipped_example(tmp_path, capsys):
    """``dualsam segment`` with no arguments: the example image, its default point, the default model; the mask
    matches the example object's true mask (the scene is redrawn from example.json's recipe)."""
    from dualsam.cli import main
    from dualsam.cli_common import EXAMPLE_PROMPTS
    from sam_core.synthetic import make_scene

    with open(EXAMPLE_PROMPTS, encoding="utf-8") as handle:
        recipe = json.load(handle)
    scene_args = dict(recipe["scene"])
    seed = scene_args.pop("seed")
    scene = make_scene(np.random.default_rng(seed), **{k: tuple(v) if isinstance(v, list) else v
                                                        for k, v in scene_args.items()})  # fmt: skip
    x, y = recipe["point"]
    target = next(mask for mask in scene.masks if mask[y, x])
    assert main(["segment", "--out", str(tmp_path)]) == 0
    mask = np.asarray(Image.open(tmp_path / "mask_0.png")) == 255
    intersection, union = (mask & target).sum(), (mask | target).sum()
    assert intersection / union >= 0.8  # measured 0.837: the ellipse, plus stray pixels on the triangle below it
    result = json.load(open(tmp_path / "result.json"))
    assert result["model"]["path"] == str(model_loading.DEFAULT_MODEL_DIR)
