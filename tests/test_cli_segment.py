"""``dualsam segment``: outputs, numbers against SamPredictor, both backends, a Meta .pth, the default-model lookup,
and every bad input (exit 2, one line). The model is tiny with informative random weights."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dualsam import models as model_loading
from sam_core.predictor import SamPredictor
from tests.helpers.cli_helpers import (  # noqa: F401 (pytest fixtures used as arguments)
    MASK_AGREEMENT,
    SCORES_ATOL,
    assert_bad_input,
    image_file,
    meta_pth,
    no_temporary_files,
    read_json,
    run_cli,
    tiny,
)  # fmt: skip

POINTS = [(20.5, 14.0, 1), (50.0, 33.0, 0)]
BOX = (6, 4, 60, 40)
PROMPT_ARGS = ["--point", "20.5,14", "--point", "50,33,0", "--box", "6,4,60,40"]


def _masks(directory, count: int) -> np.ndarray:
    return np.stack([np.asarray(Image.open(os.path.join(directory, f"mask_{k}.png"))) for k in range(count)])


def _segment(capsys, tiny, image_file, out, *extra):
    code, _, err = run_cli(capsys, "segment", image_file[0], *PROMPT_ARGS, "--model", tiny[0], "--out", out, *extra)
    assert code == 0, err
    return read_json(os.path.join(out, "result.json"))


def _direct(model, image, multimask: bool):
    predictor = SamPredictor(model)
    predictor.set_image(image)
    points = np.array([p[:2] for p in POINTS])
    labels = np.array([p[2] for p in POINTS])
    return predictor.predict(points, labels, np.array(BOX), multimask_output=multimask)


def test_outputs_and_numbers_match_the_predictor(tiny, image_file, tmp_path, capsys):
    out = tmp_path / "out"
    result = _segment(capsys, tiny, image_file, out, "--multimask", "--backend", "torch")
    image = image_file[1]
    assert sorted(os.listdir(out)) == ["mask_0.png", "mask_1.png", "mask_2.png", "overlay.png", "result.json"]
    assert no_temporary_files(out)
    masks = _masks(out, 3)
    assert masks.shape == (3, *image.shape[:2]) and set(np.unique(masks)) <= {0, 255}
    with Image.open(out / "overlay.png") as overlay:
        assert overlay.size == (image.shape[1], image.shape[0]) and overlay.mode == "RGB"
    expected_masks, expected_scores, _ = _direct(tiny[1], image, multimask=True)
    np.testing.assert_array_equal(masks == 255, expected_masks)
    np.testing.assert_allclose(result["scores"], expected_scores, rtol=0, atol=1e-6)
    assert result["areas"] == [int(m.sum()) for m in expected_masks]
    assert result["mask_files"] == ["mask_0.png", "mask_1.png", "mask_2.png"]
    assert result["best"] == int(np.argmax(expected_scores))
    for box, mask in zip(result["boxes"], expected_masks):
        ys, xs = np.nonzero(mask)
        assert box == ([int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())] if len(xs) else None)
    assert result["prompts"] == {"points": [list(p[:2]) for p in POINTS], "labels": [1, 0], "box": list(BOX)}
    assert result["backend"] == "torch" and result["multimask"] is True
    assert result["model"]["spec"] == tiny[0] and result["model"]["format"] == "safetensors"
    assert result["image"] == {"path": os.path.abspath(image_file[0]), "width": 67, "height": 45}
    assert {"load_model_s", "set_image_s", "predict_s", "write_s", "total_s"} <= set(result["timings"])


def test_single_mask_replaces_an_earlier_run(tiny, image_file, tmp_path, capsys):
    out = tmp_path / "out"
    _segment(capsys, tiny, image_file, out, "--multimask")
    result = _segment(capsys, tiny, image_file, out)
    assert sorted(os.listdir(out)) == ["mask_0.png", "overlay.png", "result.json"]
    masks, scores, _ = _direct(tiny[1], image_file[1], multimask=False)
    np.testing.assert_allclose(result["scores"], scores, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(_masks(out, 1) == 255, masks)


def test_default_output_directory(tiny, image_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "3,3", "--model", tiny[0])
    assert code == 0, err
    assert (tmp_path / "scene_segment" / "result.json").is_file()


def test_tf_backend_gives_the_torch_masks(tiny, image_file, tmp_path, capsys):
    pytest.importorskip("tensorflow")
    torch_result = _segment(capsys, tiny, image_file, tmp_path / "pt", "--multimask", "--backend", "torch")
    tf_result = _segment(capsys, tiny, image_file, tmp_path / "tf", "--multimask", "--backend", "tf")
    assert tf_result["backend"] == "tf"
    agreement = (_masks(tmp_path / "pt", 3) == _masks(tmp_path / "tf", 3)).mean()
    assert agreement >= MASK_AGREEMENT
    np.testing.assert_allclose(tf_result["scores"], torch_result["scores"], rtol=0, atol=SCORES_ATOL)


def test_meta_pth_model(tiny, meta_pth, image_file, tmp_path, capsys):
    """A tiny Meta .pth needs --config (shapes leave the decoder heads open; real SAM checkpoints do not)."""
    config = os.path.join(tiny[0], "config.json")
    reference = _segment(capsys, tiny, image_file, tmp_path / "dir", "--multimask")
    code, _, err = run_cli(
        capsys, "segment", image_file[0], *PROMPT_ARGS, "--multimask", "--model", meta_pth, "--config", config,
        "--out", tmp_path / "pth",
    )  # fmt: skip
    assert code == 0, err
    result = read_json(tmp_path / "pth" / "result.json")
    assert result["model"]["format"] == "Meta .pth"
    np.testing.assert_allclose(result["scores"], reference["scores"], rtol=0, atol=SCORES_ATOL)
    assert (_masks(tmp_path / "pth", 3) == _masks(tmp_path / "dir", 3)).mean() >= MASK_AGREEMENT
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "3,3", "--model", meta_pth, "--out", tmp_path)
    assert_bad_input(code, err, "segment", match="(--config on the command line)")


def test_default_model_is_picked_up_once_it_exists(tiny, image_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(model_loading, "DEFAULT_MODEL_DIR", tmp_path / "missing")
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "3,3", "--out", tmp_path / "a")
    assert_bad_input(code, err, "segment", match="pass --model")
    bundled = tmp_path / "data" / "default_model"
    shutil.copytree(tiny[0], bundled)
    monkeypatch.setattr(model_loading, "DEFAULT_MODEL_DIR", bundled)
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "3,3", "--out", tmp_path / "b")
    assert code == 0, err
    assert read_json(tmp_path / "b" / "result.json")["model"]["spec"] == "default"


def test_overlay_draws_masks_and_markers():
    from dualsam.overlay import MASK_ALPHA, draw_prompts, mask_colors, render_overlay

    image = np.full((40, 60, 3), 100, np.uint8)
    mask = np.zeros((40, 60), bool)
    mask[10:30, 5:25] = True
    overlay = np.asarray(render_overlay(image, [mask]))
    color = mask_colors(1)[0].astype(np.float64)
    np.testing.assert_array_equal(overlay[20, 15], np.rint((1 - MASK_ALPHA) * 100 + MASK_ALPHA * color))
    np.testing.assert_array_equal(overlay[10, 15], color)  # the outline is opaque
    np.testing.assert_array_equal(overlay[~mask], image[~mask])  # no prompts: nothing else changes
    marked = np.asarray(draw_prompts(image, np.array([[45, 20], [10, 5]]), np.array([1, 0]), [2, 2, 58, 38]))
    assert tuple(marked[20, 45]) == (0, 200, 0) and tuple(marked[5, 10]) == (230, 0, 0)
    assert (marked[2:39, 3] != 100).any() and (marked[20, 30] == 100).all()


def test_the_package_default_location():
    assert model_loading.DEFAULT_MODEL_DIR.parts[-3:] == ("sam_core", "data", "default_model")


@pytest.mark.parametrize(
    "args, match",
    [
        (["--point", "1"], "--point '1' is malformed"),
        (["--point", "a,b"], "is malformed"),
        (["--point", "1,2,1,4"], "is malformed"),
        (["--point", "nan,2"], "is malformed"),
        (["--point", "1,2,5"], "LABEL must be 1"),
        (["--box", "1,2,3"], "--box '1,2,3' is malformed"),
        (["--box", "30,20,10,40"], "X1 < X2"),
        (["--box", "0,0,68,40"], "outside the 67x45 image"),
        (["--point", "10,46"], "outside the 67x45 image"),
        ([], "give at least one prompt"),
        (["--point", "3,3", "--backend", "jax"], "unknown backend 'jax'"),
        (["--point", "3,3", "--bogus"], "unrecognized arguments: --bogus"),
        (["--point"], "expected one argument"),
    ],
)
def test_bad_prompts_and_options(tiny, image_file, tmp_path, capsys, args, match):
    code, _, err = run_cli(capsys, "segment", image_file[0], *args, "--model", tiny[0], "--out", tmp_path / "o")
    assert_bad_input(code, err, "segment", match=match)
    assert not (tmp_path / "o").exists()


def test_backend_not_installed(tiny, image_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(model_loading, "installed_backends", lambda: ["torch"])
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "3,3", "--backend", "tf", "--model", tiny[0])
    assert_bad_input(code, err, "segment", match="backend tf is not installed")
    monkeypatch.setattr(model_loading, "installed_backends", lambda: [])
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "3,3", "--model", tiny[0])
    assert_bad_input(code, err, "segment", match="no backend is installed")


def test_bad_images(tiny, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "no_images").mkdir()  # a directory is a dataset input (tests/test_batch.py); this one is empty
    for path, match in [(tmp_path / "none.png", "does not exist"), (tmp_path / "notes.png", "cannot read image"),
                        (tmp_path / "no_images", "holds no images")]:  # fmt: skip
        code, _, err = run_cli(capsys, "segment", path, "--point", "1,1", "--model", tiny[0], "--out", tmp_path / "o")
        assert_bad_input(code, err, "segment", match=match)


def test_bad_model_paths(image_file, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.pth").write_bytes(b"PK\x03\x04 truncated")
    cases = [(tmp_path / "nothing", "does not exist"), (tmp_path / "sam.pth", "does not exist"),
             (tmp_path / "empty", "holds no weights"), (tmp_path / "broken.pth", "cannot read model")]  # fmt: skip
    for model, match in cases:
        code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "1,1", "--model", model)
        assert_bad_input(code, err, "segment", match=match)


def test_never_overwrites_the_input_image(tiny, image_file, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    victim = out / "overlay.png"
    shutil.copy(image_file[0], victim)
    before = victim.read_bytes()
    code, _, err = run_cli(capsys, "segment", victim, "--point", "3,3", "--model", tiny[0], "--out", out)
    assert_bad_input(code, err, "segment", match="refusing to overwrite the input image")
    assert victim.read_bytes() == before and sorted(os.listdir(out)) == ["overlay.png"]


def test_installed_entry_point(tiny, image_file, tmp_path):
    """The console script: a real run and a bad input, in a fresh process."""
    script = shutil.which("dualsam", path=os.path.dirname(sys.executable)) or "dualsam"
    run = subprocess.run(
        [script, "segment", image_file[0], "--point", "20,14", "--model", tiny[0], "--out", tmp_path / "o"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and (tmp_path / "o" / "mask_0.png").is_file()
    run = subprocess.run([script, "segment", image_file[0], "--box", "1,2"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0 and "malformed" in run.stderr


def test_cli_modules_import_no_framework():
    code = (
        "import sys, dualsam.cli, dualsam.cli_segment, dualsam.cli_generate, dualsam.cli_info, "
        "dualsam.models, dualsam.overlay, dualsam.segment, dualsam.generate\n"
        "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_without_image_uses_the_shipped_example_and_its_point(tiny, tmp_path, capsys):
    from dualsam.cli_common import EXAMPLE_IMAGE, example_point

    out = tmp_path / "example"
    code, _, err = run_cli(capsys, "segment", "--model", tiny[0], "--out", str(out))
    assert code == 0, err
    result = read_json(out / "result.json")
    x, y, label = example_point()
    assert result["image"]["path"] == str(EXAMPLE_IMAGE) and result["prompts"]["points"] == [[x, y]]
    image = np.asarray(Image.open(EXAMPLE_IMAGE).convert("RGB"))
    predictor = SamPredictor(tiny[1])
    predictor.set_image(image)
    expected, _, _ = predictor.predict(np.array([[x, y]]), np.array([label]), multimask_output=False)
    np.testing.assert_array_equal(_masks(out, 1) == 255, expected)


def test_without_image_an_explicit_prompt_is_used_on_the_example(tiny, tmp_path, capsys):
    out = tmp_path / "example_box"
    code, _, err = run_cli(capsys, "segment", "--box", "10,20,200,300", "--model", tiny[0], "--out", str(out))
    assert code == 0, err
    assert read_json(out / "result.json")["prompts"] == {"points": [], "labels": [], "box": [10, 20, 200, 300]}


def test_example_prompt_file_matches_the_example_image():
    """example.json's objects are the example scene's (scripts/make_example_image.py): same size, and each object's
    interior point lies inside its box."""
    import json

    from dualsam.cli_common import EXAMPLE_IMAGE, EXAMPLE_PROMPTS

    with open(EXAMPLE_PROMPTS, encoding="utf-8") as handle:
        prompts = json.load(handle)
    with Image.open(EXAMPLE_IMAGE) as image:
        width, height = image.size
    assert prompts["point"] in [o["interior_point"] for o in prompts["objects"]]
    for obj in prompts["objects"]:
        x1, y1, x2, y2 = obj["box"]
        x, y = obj["interior_point"]
        assert 0 <= x1 <= x <= x2 < width and 0 <= y1 <= y <= y2 < height
