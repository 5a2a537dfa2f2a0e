"""The tests of a runtime-only environment (``dualsam[onnx]`` or ``dualsam[tflite]``; no torch, no TensorFlow),
shared by ``test_onnx_only.py`` and ``test_tflite_only.py``: each imports them and provides the ``runtime`` fixture
(:data:`RUNTIMES`). They run the export of the tiny model that the full environment wrote through ``dualsam
segment|generate --backend RUNTIME`` (one image and a dataset of two), SamPredictor and SamAutomaticMaskGenerator on
the runtime backend, and the README's snippet, and compare with the source framework model's outputs on the same
weights (torch for ONNX, Keras for LiteRT): scores within 1e-4, masks agreeing on >= 99.9% of pixels.

The inputs and references are what ``tests/single_framework/make_fixtures.py`` wrote (path in
``DUALSAM_SINGLE_FIXTURES``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sam_core.amg.rle import coco_rle_to_mask

FIXTURES = os.environ.get("DUALSAM_SINGLE_FIXTURES", "")
#: Scores against the source model (the export's own check bound).
SCORE_ATOL = 1e-4
#: Low-res logits against the source model, relative to max(1, max|ref|).
RTOL = 1e-4
#: Binary masks near the 0 threshold may flip under float32 rounding.
MASK_AGREEMENT = 0.999
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")
#: --backend -> the runtime's module, the source framework (its package, for the install-hint check), and the
#: reference files of make_fixtures.py (``reference_FRAMEWORK.npz`` holds the segment run's masks and scores).
RUNTIMES = {
    "onnx": {"backend": "onnx", "module": "onnxruntime", "framework": "torch", "reference": "onnx",
             "dataset": "reference_dataset"},
    "tflite": {"backend": "tflite", "module": "ai_edge_litert", "framework": "tf", "reference": "tflite",
               "dataset": "reference_dataset_tf"},
}  # fmt: skip


@pytest.fixture(scope="module")
def fixtures() -> dict:
    assert FIXTURES and os.path.isdir(FIXTURES), "DUALSAM_SINGLE_FIXTURES must name make_fixtures.py's output"
    with open(os.path.join(FIXTURES, "sources.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return np.asarray(Image.open(os.path.join(FIXTURES, "scene.png")).convert("RGB"))


def _read_json(*parts: str):
    with open(os.path.join(*parts), encoding="utf-8") as handle:
        return json.load(handle)


def _backend(runtime: dict, directory: str, **options):
    from dualsam.runtimes import RUNTIMES as BACKENDS
    from dualsam.runtimes import runtime_module

    return getattr(runtime_module(runtime["backend"]), BACKENDS[runtime["backend"]][1])(directory, **options)


def _dualsam(*argv: str) -> subprocess.CompletedProcess:
    """``python -X importtime -m dualsam ARGV``; fails the test when it imports a framework."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dualsam", *argv], capture_output=True,
                          text=True)  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines()
                if line.startswith("import time:")}  # fmt: skip
    assert not imported & set(FRAMEWORKS), f"dualsam {argv[0]} imported {imported & set(FRAMEWORKS)}"
    return done


def _errors(done: subprocess.CompletedProcess) -> str:
    return "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))


def _same_records(ours: list[dict], reference: list[dict], *, iou_key: str = "predicted_iou") -> None:
    assert len(ours) == len(reference) > 0
    np.testing.assert_allclose([r[iou_key] for r in ours], [r[iou_key] for r in reference], atol=SCORE_ATOL)
    for a, b in zip(ours, reference):
        assert np.mean(coco_rle_to_mask(a["segmentation"]) == coco_rle_to_mask(b["segmentation"])) >= MASK_AGREEMENT


def test_no_framework_is_installed(runtime):
    for name in FRAMEWORKS:
        assert importlib.util.find_spec(name) is None, f"{name} is installed in the {runtime['backend']}-only env"
    assert importlib.util.find_spec(runtime["module"]) is not None
    package = "sam_torch" if runtime["framework"] == "torch" else "sam_tf"
    done = subprocess.run([sys.executable, "-c", f"import {package}"], capture_output=True, text=True)
    assert done.returncode == 1 and f"pip install 'dualsam[{runtime['framework']}]'" in done.stderr


def test_segment_cli(runtime, fixtures, tmp_path):
    reference = np.load(os.path.join(FIXTURES, f"reference_{runtime['framework']}.npz"))
    backend, export = runtime["backend"], fixtures[f"{runtime['backend']}_export"]
    argv = ["segment", os.path.join(FIXTURES, "scene.png"), "--backend", backend, "--model", export,
            "--out", str(tmp_path / "s"), "--box", ",".join(f"{v:g}" for v in fixtures["box"])]  # fmt: skip
    for (x, y), label in zip(fixtures["points"], fixtures["labels"]):
        argv += ["--point", f"{x:g},{y:g},{label}"]
    done = _dualsam(*argv)
    assert done.returncode == 0, _errors(done)
    result = _read_json(tmp_path / "s" / "result.json")
    assert result["backend"] == backend and result["model"]["format"] == f"{backend} export"
    np.testing.assert_allclose(result["scores"], reference["segment_scores"], atol=SCORE_ATOL)
    mask = np.asarray(Image.open(tmp_path / "s" / "mask_0.png")) > 0
    assert np.mean(mask == reference["segment_masks"][0]) >= MASK_AGREEMENT


def test_generate_cli(runtime, fixtures, tmp_path):
    options = [f"--{k.replace('_', '-')}={v}" for k, v in fixtures["amg_onnx"].items()]
    done = _dualsam("generate", os.path.join(FIXTURES, "scene.png"), "--backend", runtime["backend"], "--model",
                    fixtures[f"{runtime['backend']}_export"], "--out", str(tmp_path / "g"), "--no-progress",
                    *options)  # fmt: skip
    assert done.returncode == 0, _errors(done)
    records = _read_json(tmp_path / "g" / "masks.json")
    _same_records(records, _read_json(FIXTURES, f"reference_{runtime['reference']}_generate.json"))


def test_dataset_cli(runtime, fixtures, tmp_path):
    point = ",".join(f"{v:g}" for v in fixtures["dataset_point"])
    done = _dualsam("segment", fixtures["dataset"], "--point", point, "--multimask", "--backend", runtime["backend"],
                    "--model", fixtures[f"{runtime['backend']}_export"], "--out", str(tmp_path / "d"),
                    "--no-progress")  # fmt: skip
    assert done.returncode == 0, _errors(done)
    ours = _read_json(tmp_path / "d" / "annotations.json")
    reference = _read_json(FIXTURES, runtime["dataset"], "annotations.json")
    assert ours["images"] == reference["images"] and len(ours["images"]) == 2
    assert [a["image_id"] for a in ours["annotations"]] == [a["image_id"] for a in reference["annotations"]]
    _same_records(ours["annotations"], reference["annotations"])


def test_predictor_on_the_runtime_backend(runtime, fixtures, scene):
    from sam_core.predictor import SamPredictor

    reference = np.load(os.path.join(FIXTURES, f"reference_{runtime['reference']}.npz"))
    predictor = SamPredictor(_backend(runtime, fixtures[f"{runtime['backend']}_export"]))
    predictor.set_image(scene)
    for name, prompt in fixtures["predictor_prompts"].items():
        prompt = {key: np.asarray(value) for key, value in prompt.items()}
        masks, scores, low_res = predictor.predict(**prompt, multimask_output=True)
        np.testing.assert_allclose(scores, reference[f"{name}_scores"], atol=SCORE_ATOL, err_msg=name)
        ref_low_res = reference[f"{name}_low_res"]
        bound = RTOL * max(1.0, float(np.max(np.abs(ref_low_res))))
        assert float(np.max(np.abs(low_res.astype(np.float64) - ref_low_res))) <= bound, name
        for ours, expected in zip(masks, reference[f"{name}_masks"]):
            assert np.mean(ours == expected) >= MASK_AGREEMENT, name


def test_mask_generator_on_the_runtime_backend(runtime, fixtures, scene):
    from sam_core import SamAutomaticMaskGenerator

    backend = _backend(runtime, fixtures[f"{runtime['backend']}_export"])
    generator = SamAutomaticMaskGenerator(backend, output_mode="coco_rle", **fixtures["amg_onnx"])
    _same_records(generator.generate(scene), _read_json(FIXTURES, f"reference_{runtime['reference']}_generate.json"))


def test_the_readme_snippet(runtime, fixtures, tmp_path):
    from tests.helpers.images import synthetic_image
    from tests.helpers.readme_snippet import check_onnx_snippet

    export = fixtures[f"{runtime['backend']}_export"]
    check_onnx_snippet(export, tmp_path, synthetic_image(480, 640, seed=4), runtime["backend"])


def test_nothing_imported_a_framework():
    """Everything above ran in this process too: no framework module was loaded."""
    assert not {name.split(".")[0] for name in sys.modules} & set(FRAMEWORKS)
