"""LiteRT export (``sam_tf.tflite_export``) and the LiteRT backend (``dualsam.runtimes.tflite_backend``): LiteRT
against our Keras model in fp32 (encoder; Meta-signature decoder with 1, 2 and 5 points, a box, -1 padding, with and
without a mask input, on non-square original sizes; the low-res decoder on a batch of prompts), int8 within its
documented bound, the self-check catching a changed weight and failing ``dualsam export`` with exit 1, SamPredictor
and the mask generator on the LiteRT backend, ``dualsam export --format tflite|savedmodel`` and ``dualsam segment
--backend tflite`` (importing no framework). The model is tiny with informative random weights; one export (fp32
and int8, with its own check) serves the module."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

from dualsam.cli import main
from sam_core.onnx_signature import (
    DECODER_OUTPUTS,
    LOWRES_DECODER_OUTPUTS,
    MANIFEST_NAME,
    lowres_decoder_feeds,
    sha256_file,
)  # fmt: skip
from sam_core.predictor import SamPredictor
from tests.helpers.cli_helpers import (  # noqa: F401 (pytest fixtures used as arguments)
    assert_bad_input,
    image_file,
    read_json,
    run_cli,
    tiny,
)  # fmt: skip
from tests.helpers.runtime_checks import (
    DECODER_CASES,
    LOW_RES,
    SIDE,
    assert_cli_imports_no_framework,
    assert_decoder_matches,
    assert_generator_matches,
    assert_predictor_matches,
)  # fmt: skip
from tests.helpers.tolerances import OUTPUT_RTOL, assert_outputs_close

tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert", reason="LiteRT is needed: pip install 'dualsam[tflite]'")

from dualsam.models import load_model  # noqa: E402
from dualsam.runtimes.tflite_backend import TfliteBackend  # noqa: E402
from sam_tf.tflite_check import INT8_RTOL, ExportCheckError, check_export, reference_decode  # noqa: E402
from sam_tf.tflite_check import signature_runner as runner  # noqa: E402
from sam_tf.tflite_export import FILES  # noqa: E402

INT8_FILES = {part: name.replace(".tflite", ".int8.tflite") for part, name in FILES.items()}


@pytest.fixture(scope="module")
def keras_model(tiny):
    return load_model(tiny[0], "tf").model


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    """(export directory, its manifest) of the tiny model by ``dualsam export --format tflite --quantize int8`` (its
    own fp32 and int8 checks pass)."""
    directory = tmp_path_factory.mktemp("tflite_export")
    argv = ["export", tiny[0], "--format", "tflite", "--quantize", "int8", "--out", str(directory), "--quiet"]
    assert main(argv) == 0
    return str(directory), read_json(directory / MANIFEST_NAME)


@pytest.fixture(scope="module")
def runners(exported):
    return tuple(runner(os.path.join(exported[0], FILES[part])) for part in ("encoder", "decoder", "decoder_lowres"))


@pytest.fixture(scope="module")
def embedding(keras_model):
    pixels = np.random.default_rng(5).standard_normal((1, 3, SIDE, SIDE)).astype(np.float32)
    return pixels, keras_model.get_image_embeddings(pixels)


def test_encoder_matches_keras(runners, embedding):
    pixels, reference = embedding
    ours = runners[0](pixel_values=pixels)["image_embeddings"]
    assert ours.shape == tuple(reference.shape)
    assert_outputs_close(ours, reference.numpy(), OUTPUT_RTOL, "image_embeddings")


@pytest.mark.parametrize("prompt, with_mask, orig_size", DECODER_CASES)
def test_decoder_matches_keras(keras_model, runners, embedding, prompt, with_mask, orig_size):
    """Meta's decoder on LiteRT against our Keras model (``assert_decoder_matches``)."""
    assert_decoder_matches(
        lambda feeds: tuple(runners[1](**feeds)[name] for name in DECODER_OUTPUTS),
        lambda case: reference_decode(keras_model, embedding[1], case), embedding[1].numpy(), prompt, with_mask,
        orig_size,
    )  # fmt: skip


@pytest.mark.parametrize("with_boxes, masks", [(False, None), (True, "one")])
def test_lowres_decoder_on_a_batch_of_prompts_matches_keras(keras_model, runners, embedding, with_boxes, masks):
    """decoder_lowres.tflite on 16 prompts in one run against our model's forward on the same 16 prompts."""
    rng = np.random.default_rng(7)
    count = 16
    points = rng.uniform(0, SIDE, (count, 2, 2)).astype(np.float32)
    labels = rng.integers(0, 2, (count, 2))
    boxes = np.sort(rng.uniform(0, SIDE, (count, 2, 2)), axis=1).reshape(count, 4) if with_boxes else None
    mask_input = rng.standard_normal((1, 1, LOW_RES, LOW_RES)).astype(np.float32) * 4 if masks else None
    feeds = lowres_decoder_feeds(embedding[1].numpy(), points=points, labels=labels, boxes=boxes, masks=mask_input,
                                 low_res_size=LOW_RES)  # fmt: skip
    outputs = runners[2](**feeds)
    low_res, iou = (outputs[name] for name in LOWRES_DECODER_OUTPUTS)
    assert low_res.shape == (count, 4, LOW_RES, LOW_RES) and iou.shape == (count, 4)
    kwargs = {
        "input_points": points[None],
        "input_labels": labels[None],
        "input_boxes": None if boxes is None else boxes[None].astype(np.float32),
        "input_masks": mask_input,
    }
    single = keras_model(image_embeddings=embedding[1], **kwargs, multimask_output=False)
    multi = keras_model(image_embeddings=embedding[1], **kwargs, multimask_output=True)
    ref_logits = np.concatenate([single.pred_masks, multi.pred_masks], axis=2)[0]
    ref_iou = np.concatenate([single.iou_scores, multi.iou_scores], axis=2)[0]
    assert_outputs_close(low_res, ref_logits, OUTPUT_RTOL, "low_res_masks")
    assert_outputs_close(iou, ref_iou, OUTPUT_RTOL, "iou_predictions")


def test_the_manifest_and_the_int8_files(exported):
    directory, manifest = exported
    assert manifest["format"] == "tflite" and manifest["check"]["done"]
    # fp32 and int8: the encoder; 6 probe prompts through Meta's decoder (3 outputs) and the low-res one (2); 3
    # batches (2)
    assert manifest["check"]["outputs"] == 2 * 37 and manifest["check"]["int8_rtol"] == INT8_RTOL
    assert manifest["check"]["worst_fraction_of_bound"] <= 1.0
    assert (
        sorted(manifest["files"])
        == sorted([*FILES.values(), *INT8_FILES.values()])
        == sorted(name for name in os.listdir(directory) if name != MANIFEST_NAME)
    )
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(os.path.join(directory, name))
    for part in FILES:
        assert manifest[part]["file"] == FILES[part] and manifest[part]["int8_file"] == INT8_FILES[part]
        assert manifest["files"][INT8_FILES[part]]["bytes"] < manifest["files"][FILES[part]]["bytes"]
    assert manifest["decoder"]["inputs"]["point_coords"] == [1, "num_points", 2]
    assert manifest["decoder"]["outputs"]["masks"] == [1, 4, "orig_height", "orig_width"]
    assert manifest["decoder_lowres"]["inputs"]["point_coords"] == ["num_prompts", "num_points", 2]
    assert manifest["encoder"]["inputs"] == {"pixel_values": [1, 3, SIDE, SIDE]}


def test_int8_stays_within_its_bound(keras_model, exported):
    """The int8 files through the same check as the export's, within INT8_RTOL (and not within fp32's bound: the
    weights were quantized)."""
    deviations = check_export(exported[0], keras_model, files=INT8_FILES, rtol=INT8_RTOL)
    assert all(d.ok for d in deviations) and len(deviations) == 37
    assert max(d.max_abs_diff / d.bound for d in deviations) > OUTPUT_RTOL / INT8_RTOL
    predictor = SamPredictor(TfliteBackend(exported[0], precision="int8"))
    predictor.set_image(np.full((40, 60, 3), 128, np.uint8))
    masks, scores, _ = predictor.predict(np.array([[30.0, 20.0]]), np.array([1]))
    assert masks.shape == (3, 40, 60) and np.isfinite(scores).all()


def test_the_check_fails_against_a_changed_model(tiny, exported):
    changed = load_model(tiny[0], "tf").model
    bias = changed.mask_decoder.iou_prediction_head.proj_out.bias
    bias.assign(bias.numpy() + np.eye(1, bias.shape[0], 1, dtype=np.float32)[0] * 0.05)
    with pytest.raises(ExportCheckError, match="differs from the Keras model") as caught:
        check_export(exported[0], changed, files=FILES)
    failed = {d.output for d in caught.value.deviations if not d.ok}
    assert failed and all("iou_predictions" in name for name in failed)  # the untouched model passed in `exported`


def test_a_failed_check_exits_1_and_leaves_no_files(tiny, exported, tmp_path, capsys, monkeypatch):
    """The converter is replaced by one that hands back the exported files, the int8 encoder in place of the float
    one: the fp32 check fails on the encoder."""
    from sam_tf import tflite_export

    swapped = {**FILES, "encoder": INT8_FILES["encoder"]}
    files = {graph: open(os.path.join(exported[0], swapped[part]), "rb").read()
             for part, graph in tflite_export.GRAPHS.items()}  # fmt: skip
    monkeypatch.setattr(tflite_export, "convert_graph", lambda graph, quantize=False: files[type(graph)])
    out = tmp_path / "failed"
    code, _, err = run_cli(capsys, "export", tiny[0], "--format", "tflite", "--out", out, "--quiet")
    assert code == 1 and "check failed" in err and "encoder: image_embeddings" in err
    assert os.listdir(out) == []


def test_predictor_on_the_tflite_backend_matches_keras(keras_model, exported, image_file):
    backend = TfliteBackend(exported[0])
    assert (backend.image_size, backend.low_res_size) == (SIDE, LOW_RES)
    assert_predictor_matches(backend, keras_model, image_file[1])


def test_mask_generator_on_the_tflite_backend(keras_model, exported, image_file):
    assert_generator_matches(TfliteBackend(exported[0], prompts_per_run=5), keras_model, image_file[1])


def test_cli_segment_on_the_export_and_a_damaged_file(tiny, exported, tmp_path, capsys, image_file):
    out = tmp_path / "export"
    shutil.copytree(exported[0], out)
    seg_tflite, seg_tf = tmp_path / "seg_tflite", tmp_path / "seg_tf"
    prompt = ["--point", "20.5,14", "--point", "50,33,0", "--multimask"]
    tflite_run = ["segment", image_file[0], *prompt, "--backend", "tflite", "--model", out, "--out", seg_tflite]
    code, _, err = run_cli(capsys, *tflite_run)
    assert code == 0, err
    code, _, err = run_cli(capsys, "segment", image_file[0], *prompt, "--backend", "tf", "--model", tiny[0], "--out",
                           seg_tf)  # fmt: skip
    assert code == 0, err
    ours, reference = read_json(seg_tflite / "result.json"), read_json(seg_tf / "result.json")
    assert ours["backend"] == "tflite" and ours["model"]["format"] == "tflite export"
    np.testing.assert_allclose(ours["scores"], reference["scores"], atol=1e-4)
    with open(out / "decoder_lowres.tflite", "ab") as handle:  # a damaged file is refused by its hash
        handle.write(b"\0")
    code, _, err = run_cli(capsys, *tflite_run)
    assert_bad_input(code, err, "segment", "does not match its sha256")


def test_savedmodel_export_loads_and_matches_keras(tiny, keras_model, tmp_path, capsys, image_file):
    out = tmp_path / "savedmodel_export"
    code, stdout, err = run_cli(capsys, "export", tiny[0], "--format", "savedmodel", "--out", out, "--quiet")
    assert code == 0, err
    manifest = read_json(out / MANIFEST_NAME)
    assert manifest["format"] == "savedmodel" and manifest["check"]["done"] and manifest["check"]["outputs"] == 4
    assert manifest["config"] == keras_model.config.to_dict()
    for name, entry in manifest["files"].items():
        assert name.startswith("savedmodel/") and entry["sha256"] == sha256_file(out / name)
    loaded = tf.saved_model.load(str(out / "savedmodel"))
    pixels = np.random.default_rng(9).standard_normal((1, 3, SIDE, SIDE)).astype(np.float32)
    points = np.array([[[[100.0, 200.0], [600.0, 400.0]]]], np.float32)
    labels = np.array([[[1, 0]]], np.int32)
    ours = loaded.serve(pixel_values=pixels, input_points=points, input_labels=labels)
    reference = keras_model(pixel_values=pixels, input_points=points, input_labels=labels)
    assert_outputs_close(ours["pred_masks"], reference.pred_masks, OUTPUT_RTOL, "pred_masks")
    assert_outputs_close(ours["iou_scores"], reference.iou_scores, OUTPUT_RTOL, "iou_scores")
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "20,14", "--backend", "tflite", "--model", out,
                           "--out", tmp_path / "x")  # fmt: skip
    assert_bad_input(code, err, "segment", "is a savedmodel export, not tflite")
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "20,14", "--model", out, "--out", tmp_path)
    assert_bad_input(code, err, "segment", "is a savedmodel export (dualsam export), not a model")


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--format", "tflite", "--opset", "17"], "--opset applies to --format onnx only"),
        (["--format", "tflite", "--backend", "torch"], "runs from the tf backend"),
        (["--format", "savedmodel", "--quantize", "int8"], "--quantize applies to --format onnx or tflite"),
        (["--format", "tflite", "--quantize", "int4"], "unknown quantization"),
    ],
)
def test_cli_export_bad_input(tiny, tmp_path, capsys, argv, match):
    code, _, err = run_cli(capsys, "export", tiny[0], "--out", tmp_path / "x", *argv)
    assert_bad_input(code, err, "export", match)


def test_backend_tflite_bad_input(tiny, image_file, tmp_path, capsys):
    segment = ["segment", image_file[0], "--point", "20,14", "--backend", "tflite", "--out", tmp_path / "out"]
    code, _, err = run_cli(capsys, *segment)
    assert_bad_input(code, err, "segment", "--model EXPORT_DIR")
    code, _, err = run_cli(capsys, *segment, "--model", tiny[0])
    assert_bad_input(code, err, "segment", "not a dualsam LiteRT export")


def test_missing_ai_edge_litert_is_one_install_line(monkeypatch, exported):
    from dualsam import models
    from dualsam.runtimes import RuntimeMissingError, tflite_backend

    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(RuntimeMissingError, match=r"pip install 'dualsam\[tflite\]'"):
        TfliteBackend(exported[0])
    monkeypatch.setattr(tflite_backend, "is_available", lambda: False)
    with pytest.raises(models.ModelError, match=r"^backend tflite is not installed: pip install 'dualsam\[tflite\]'$"):
        models.resolve_backend("tflite")


def test_the_tflite_backend_imports_no_framework(exported, image_file, tmp_path):
    assert_cli_imports_no_framework("tflite", exported[0], image_file[0], str(tmp_path))
