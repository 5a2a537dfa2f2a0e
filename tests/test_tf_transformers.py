"""TFSamModel against transformers 4.x TFSamModel (tf-keras, run in a subprocess by tests/oracles/hf_tf_oracle.py):
transformers' own tf_model.h5 loads into ours and gives its outputs; our tf_model.h5 loads into transformers and
gives ours."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sam_core import weights
from sam_tf import TFSamModel
from tests.helpers.sam_weights import tiny_config
from tests.helpers.tf_twins import make_tf_twins
from tests.helpers.tolerances import assert_outputs_close

pytest.importorskip("tf_keras")
pytest.importorskip("transformers")

ORACLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oracles", "hf_tf_oracle.py")
RUNS = {
    "points": dict(pixel_values="pixels", input_points="points", input_labels="labels"),
    "boxes": dict(pixel_values="pixels", input_boxes="boxes"),
    "points_boxes_masks": dict(pixel_values="pixels", input_points="points1", input_boxes="boxes",
                               input_masks="masks"),
}


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    return dict(
        pixels=rng.standard_normal((1, 3, 1024, 1024)).astype(np.float32),
        points=np.array([[[[300.0, 500.0], [700.0, 100.0]], [[50.0, 60.0], [0.0, 0.0]]]], np.float32),
        labels=np.array([[[1, 0], [1, -10]]], np.int32),
        points1=np.array([[[[300.0, 500.0]]]], np.float32),
        boxes=np.array([[[100.0, 200.0, 700.0, 900.0]]], np.float32),
        masks=(np.sin(xx / 20.0) * np.cos(yy / 30.0) * 5.0)[None, None].astype(np.float32),
    )


def _run_ours(model, arrays, run, multimask=True):
    return model(**{key: arrays[name] for key, name in run.items()}, multimask_output=multimask)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    """Ours saved in both formats, then one oracle process: transformers loads the torch-format directory (from_pt)
    and saves its own tf_model.h5; transformers loads our tf_model.h5. Returns (ours, dirs, arrays, results)."""
    root = tmp_path_factory.mktemp("hf-tf")
    ours, reference, _ = make_tf_twins(tiny_config(), seed=11)
    dirs = {name: root / name for name in ("torch_format", "theirs", "ours")}
    reference.save_pretrained(dirs["torch_format"])
    ours.save_pretrained(dirs["ours"])
    arrays = _arrays()
    np.savez(root / "in.npz", **arrays)
    runs = [dict(name=name, args=args) for name, args in RUNS.items()]
    spec = dict(inputs=str(root / "in.npz"), out=str(root / "out.npz"), jobs=[
        dict(name="theirs", model_dir=str(dirs["torch_format"]), from_pt=True, save_dir=str(dirs["theirs"]), runs=runs),
        dict(name="ours", model_dir=str(dirs["ours"]), runs=runs),
    ])
    (root / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "USE_TORCH": "AUTO", "USE_TF": "AUTO"}
    done = subprocess.run([sys.executable, ORACLE, str(root / "spec.json")], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return ours, dirs, arrays, dict(np.load(root / "out.npz"))


def test_their_h5_loads_into_ours_and_gives_their_outputs(oracle):
    _, dirs, arrays, results = oracle
    assert sorted(os.listdir(dirs["theirs"])) == ["config.json", weights.TF_H5_NAME]
    loaded = TFSamModel.from_pretrained(dirs["theirs"])
    for name, run in RUNS.items():
        out = _run_ours(loaded, arrays, run)
        assert float(np.ptp(results[f"theirs/{name}/pred_masks"])) >= 1.0
        assert_outputs_close(out.pred_masks, results[f"theirs/{name}/pred_masks"], name=f"{name} pred_masks")
        assert_outputs_close(out.iou_scores, results[f"theirs/{name}/iou_scores"], name=f"{name} iou_scores")
    assert_outputs_close(loaded.get_image_embeddings(arrays["pixels"]), results["theirs/embeddings"], name="embeddings")


def test_our_h5_loads_into_transformers_and_gives_ours(oracle):
    ours, _, arrays, results = oracle
    for name, run in RUNS.items():
        out = _run_ours(ours, arrays, run)
        assert_outputs_close(out.pred_masks, results[f"ours/{name}/pred_masks"], name=f"{name} pred_masks")
        assert_outputs_close(out.iou_scores, results[f"ours/{name}/iou_scores"], name=f"{name} iou_scores")
    assert_outputs_close(ours.get_image_embeddings(arrays["pixels"]), results["ours/embeddings"], name="embeddings")


def test_their_h5_and_ours_hold_the_same_names(oracle):
    from sam_core.h5_layout import read_keras_h5

    _, dirs, _, _ = oracle
    theirs = read_keras_h5(dirs["theirs"] / weights.TF_H5_NAME)
    mine = read_keras_h5(dirs["ours"] / weights.TF_H5_NAME)
    assert list(theirs) == list(mine)
    for group in theirs:
        assert set(theirs[group]) == set(mine[group]), group
        for name, value in theirs[group].items():
            assert value.shape == mine[group][name].shape, name
