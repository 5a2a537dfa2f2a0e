"""In an environment with one framework only: convert every source format, load it, segment and generate, and get
the one-line install hint for the framework that is missing.

Run by ``make test-torch-only`` and ``make test-tf-only`` (marker ``single_framework``), on the inputs and
references that ``tests/single_framework/make_fixtures.py`` wrote in the full environment (path in
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

pytestmark = pytest.mark.single_framework

FIXTURES = os.environ.get("DUALSAM_SINGLE_FIXTURES", "")
#: Outputs of a converted model against the full environment's model on the same weights: the converter's own
#: verify bound (float32 accumulation order may differ between the processes' thread counts).
RTOL = 1e-4
#: Binary masks near the 0 threshold may flip under that rounding.
MASK_AGREEMENT = 0.999
LAYOUTS = ("meta_pth", "single_safetensors", "bin_dir", "sharded_dir", "tf_h5_dir")


def _installed() -> list[str]:
    torch = importlib.util.find_spec("torch") is not None
    tf = importlib.util.find_spec("tensorflow") is not None
    return [name for name, present in (("torch", torch), ("tf", tf)) if present]


@pytest.fixture(scope="module")
def backend() -> str:
    installed = _installed()
    assert len(installed) == 1, f"this test needs exactly one framework installed, found {installed}"
    return installed[0]


@pytest.fixture(scope="module")
def fixtures() -> dict:
    assert FIXTURES and os.path.isdir(FIXTURES), "DUALSAM_SINGLE_FIXTURES must name make_fixtures.py's output"
    with open(os.path.join(FIXTURES, "sources.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def reference(backend) -> dict[str, np.ndarray]:
    return dict(np.load(os.path.join(FIXTURES, f"reference_{backend}.npz")))


def _dualsam(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "dualsam", *argv], capture_output=True, text=True, env=env)


def _close(ours: np.ndarray, ref: np.ndarray, name: str) -> None:
    bound = RTOL * max(1.0, float(np.max(np.abs(ref))))
    assert float(np.max(np.abs(ours.astype(np.float64) - ref))) <= bound, name


def _model_class(backend: str):
    if backend == "torch":
        from sam_torch import SamModel

        return SamModel
    from sam_tf import TFSamModel

    return TFSamModel


@pytest.mark.parametrize("layout", LAYOUTS)
def test_convert_every_source_and_run_it(backend, fixtures, reference, tmp_path, layout):
    from weights_convert.verify import run_probe

    out = tmp_path / "converted"
    args = [fixtures[layout], str(out), "--to", backend, "--verify", "--no-progress"]
    if layout in ("meta_pth", "single_safetensors"):  # the tiny decoder's head count is not in the shapes
        args += ["--config", fixtures["config"]]
    done = _dualsam("convert", *args)
    assert done.returncode == 0, done.stderr
    model = _model_class(backend).from_pretrained(out)
    probe = run_probe(model, model.config)
    for name, value in probe.items():
        _close(value, reference[name], name)


def test_default_both_target_writes_both_and_verifies_the_installed_one(backend, fixtures, tmp_path):
    done = _dualsam("convert", fixtures["meta_pth"], str(tmp_path / "both"), "--verify", "--no-progress",
                    "--config", fixtures["config"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {"model.safetensors", "tf_model.h5"} <= set(os.listdir(tmp_path / "both"))
    missing = {"torch": "tf", "tf": "torch"}[backend]
    assert f"the {missing} output is not checked: its framework is not installed" in done.stderr


def test_from_pretrained_reads_the_meta_file(backend, fixtures, reference):
    from weights_convert.verify import run_probe

    model = _model_class(backend).from_pretrained(fixtures["meta_pth"], config=fixtures["config"])
    probe = run_probe(model, model.config)
    # Meta's decoder norms use eps 1e-5 (the reference model from the .bin uses 1e-6): compare the encoder exactly
    # and the decoder within the converter's verify bound.
    _close(probe["image_embeddings"], reference["image_embeddings"], "image_embeddings")


def test_segment_and_generate(backend, fixtures, reference, tmp_path):
    points = [f"{x:g},{y:g},{label}" for (x, y), label in zip(fixtures["points"], fixtures["labels"])]
    scene = os.path.join(FIXTURES, "scene.png")
    argv = ["segment", scene, "--model", fixtures["bin_dir"], "--out", str(tmp_path / "s")]
    for point in points:
        argv += ["--point", point]
    argv += ["--box", ",".join(f"{v:g}" for v in fixtures["box"])]
    done = _dualsam(*argv)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "s" / "result.json", encoding="utf-8") as handle:
        result = json.load(handle)
    assert result["backend"] == backend
    np.testing.assert_allclose(result["scores"], reference["segment_scores"], atol=1e-4)
    from PIL import Image

    mask = np.asarray(Image.open(tmp_path / "s" / "mask_0.png")) > 0
    assert (mask == reference["segment_masks"][0]).mean() >= MASK_AGREEMENT

    amg = fixtures["amg"]
    done = _dualsam("generate", os.path.join(FIXTURES, "scene.png"), "--model", fixtures["meta_pth"],
                    "--config", fixtures["config"], "--out", str(tmp_path / "g"), "--no-progress",
                    *[f"--{k.replace('_', '-')}={v}" for k, v in amg.items()])  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "g" / "masks.json", encoding="utf-8") as handle:
        records = json.load(handle)
    assert records, "the generator kept no mask with every threshold at 0"
    assert all(r["segmentation"]["size"] == [45, 67] for r in records)


def test_generate_matches_the_full_environment(backend, fixtures, tmp_path):
    from PIL import Image

    from dualsam import generate_masks, load_model

    image = np.asarray(Image.open(os.path.join(FIXTURES, "scene.png")).convert("RGB"))
    records = generate_masks(load_model(fixtures["bin_dir"], backend).model, image, progress=False, **fixtures["amg"])
    with open(os.path.join(FIXTURES, f"reference_{backend}_generate.json"), encoding="utf-8") as handle:
        expected = json.load(handle)
    assert len(records) == len(expected)
    np.testing.assert_allclose([r["predicted_iou"] for r in records], [r["predicted_iou"] for r in expected], atol=1e-4)


def test_the_missing_backend_gives_the_install_line(backend, fixtures, tmp_path):
    missing = {"torch": "tf", "tf": "torch"}[backend]
    done = _dualsam("segment", "--backend", missing, "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"pip install 'dualsam[{missing}]'" in lines[0]
    module = {"torch": "sam_torch", "tf": "sam_tf"}[missing]
    imported = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert imported.returncode == 1
    assert imported.stderr.strip().splitlines()[-1].endswith(f"pip install 'dualsam[{missing}]'"), imported.stderr
