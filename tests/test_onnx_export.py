"""ONNX export (``sam_torch.onnx_export``) and the ONNX Runtime backend (``dualsam.runtimes``): ONNX Runtime
against our torch model in fp32 (encoder; Meta-signature decoder with 1, 2 and 5 points, a box, with and without a
mask input, on non-square original sizes; the low-res decoder on 64 prompts at once), the graph checks, the
self-check catching a changed weight, SamPredictor and the mask generator on the ONNX backend, ``dualsam export`` and
``dualsam segment --backend onnx`` (importing no framework), and int8. The model is tiny with informative random
weights."""

from __future__ import annotations

import copy
import os
import shutil

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
from tests.helpers.sam_weights import informative_state
from tests.helpers.tolerances import OUTPUT_RTOL, assert_outputs_close

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install 'dualsam[onnx]'")
onnxruntime = pytest.importorskip("onnxruntime", reason="ONNX Runtime is needed: pip install 'dualsam[onnx]'")

from dualsam.runtimes.onnx_backend import OnnxBackend  # noqa: E402
from sam_torch.onnx_check import ExportCheckError, check_export, reference_decode  # noqa: E402
from sam_torch.onnx_export import export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    """(export directory, its manifest) of the tiny model by ``dualsam export`` (its own check passes)."""
    directory = tmp_path_factory.mktemp("onnx_export")
    assert main(["export", tiny[0], "--format", "onnx", "--out", str(directory), "--quiet"]) == 0
    return str(directory), read_json(directory / MANIFEST_NAME)


@pytest.fixture(scope="module")
def sessions(exported):
    directory = exported[0]
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # leave the cores to torch in between
    paths = (os.path.join(directory, name) for name in ("encoder.onnx", "decoder.onnx", "decoder_lowres.onnx"))
    return tuple(onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"]) for path in paths)


@pytest.fixture(scope="module")
def embedding(tiny):
    pixels = np.random.default_rng(5).standard_normal((1, 3, SIDE, SIDE)).astype(np.float32)
    with torch.no_grad():
        return pixels, tiny[1].get_image_embeddings(torch.from_numpy(pixels))


def test_encoder_matches_torch(sessions, embedding):
    pixels, reference = embedding
    (ours,) = sessions[0].run(["image_embeddings"], {"pixel_values": pixels})
    assert ours.shape == tuple(reference.shape)
    assert_outputs_close(ours, reference.numpy(), OUTPUT_RTOL, "image_embeddings")


@pytest.mark.parametrize("prompt, with_mask, orig_size", DECODER_CASES)
def test_decoder_matches_torch(tiny, sessions, embedding, prompt, with_mask, orig_size):
    """Meta's decoder on ONNX Runtime against our torch model (``assert_decoder_matches``)."""
    assert_decoder_matches(
        lambda feeds: sessions[1].run(list(DECODER_OUTPUTS), feeds),
        lambda case: reference_decode(tiny[1], embedding[1], case), embedding[1].numpy(), prompt, with_mask, orig_size,
    )  # fmt: skip


@pytest.mark.parametrize("with_boxes, masks", [(False, None), (True, "one"), (False, "each")])
def test_lowres_decoder_on_64_prompts_matches_torch(tiny, sessions, embedding, with_boxes, masks):
    """decoder_lowres.onnx on 64 prompts in one run (traced with 3) against our model: 64 prompts in one forward
    with one mask input for all, or a forward per prompt with its own mask input."""
    rng = np.random.default_rng(7)
    count = 64
    points = rng.uniform(0, SIDE, (count, 2, 2)).astype(np.float32)
    labels = rng.integers(0, 2, (count, 2))
    boxes = np.sort(rng.uniform(0, SIDE, (count, 2, 2)), axis=1).reshape(count, 4) if with_boxes else None
    mask_count = {None: 0, "one": 1, "each": count}[masks]
    mask_input = rng.standard_normal((mask_count, 1, LOW_RES, LOW_RES)).astype(np.float32) * 4 if masks else None
    feeds = lowres_decoder_feeds(embedding[1].numpy(), points=points, labels=labels, boxes=boxes, masks=mask_input,
                                 low_res_size=LOW_RES)  # fmt: skip
    low_res, iou = sessions[2].run(list(LOWRES_DECODER_OUTPUTS), feeds)
    assert low_res.shape == (count, 4, LOW_RES, LOW_RES) and iou.shape == (count, 4)
    if masks == "each":
        cases = [{"points": points[i], "labels": labels[i], "box": None, "mask": mask_input[i : i + 1]}
                 for i in range(count)]  # fmt: skip
        outputs = [reference_decode(tiny[1], embedding[1], case) for case in cases]
        ref_logits, ref_iou = (np.concatenate(parts) for parts in zip(*outputs))
    else:
        kwargs = {"input_points": torch.from_numpy(points[None]), "input_labels": torch.from_numpy(labels[None]),
                  "input_boxes": None if boxes is None else torch.from_numpy(boxes[None].astype(np.float32)),
                  "input_masks": None if mask_input is None else torch.from_numpy(mask_input)}  # fmt: skip
        with torch.no_grad():
            single = tiny[1](image_embeddings=embedding[1], **kwargs, multimask_output=False)
            multi = tiny[1](image_embeddings=embedding[1], **kwargs, multimask_output=True)
        ref_logits = torch.cat([single.pred_masks, multi.pred_masks], dim=2)[0].numpy()
        ref_iou = torch.cat([single.iou_scores, multi.iou_scores], dim=2)[0].numpy()
    assert_outputs_close(low_res, ref_logits, OUTPUT_RTOL, "low_res_masks")
    assert_outputs_close(iou, ref_iou, OUTPUT_RTOL, "iou_predictions")


def test_graphs_pass_the_onnx_checker_at_opset_17_or_later(exported):
    directory, manifest = exported
    for name in ("encoder.onnx", "decoder.onnx", "decoder_lowres.onnx"):
        path = os.path.join(directory, name)
        onnx.checker.check_model(path)
        opsets = {entry.domain: entry.version for entry in onnx.load(path).opset_import}
        assert opsets.get("", opsets.get("ai.onnx")) >= 17
    graph = onnx.load(os.path.join(directory, "decoder.onnx")).graph
    assert [i.name for i in graph.input] == [
        "image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size",
    ]  # fmt: skip
    assert [o.name for o in graph.output] == ["masks", "iou_predictions", "low_res_masks"]
    graph = onnx.load(os.path.join(directory, "decoder_lowres.onnx")).graph
    assert [i.name for i in graph.input] == [
        "image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input",
    ]  # fmt: skip
    assert [o.name for o in graph.output] == ["low_res_masks", "iou_predictions"]
    # the encoder; 6 probe prompts through Meta's decoder (3 outputs) and the low-res one (2); 3 batches (2)
    assert manifest["opset"] >= 17 and manifest["check"]["done"] and manifest["check"]["outputs"] == 37


def test_the_check_fails_against_a_changed_model(tiny, exported):
    changed = copy.deepcopy(tiny[1])
    with torch.no_grad():
        changed.mask_decoder.iou_prediction_head.proj_out.bias[1] += 0.05
    with pytest.raises(ExportCheckError, match="differs from the torch model") as caught:
        check_export(exported[0], changed)
    failed = {d.output for d in caught.value.deviations if not d.ok}
    assert failed and all("iou_predictions" in name for name in failed)  # the untouched model passed in `exported`


def test_predictor_on_the_onnx_backend_matches_torch(tiny, exported, image_file):
    backend = OnnxBackend(exported[0])
    assert (backend.image_size, backend.low_res_size) == (SIDE, LOW_RES)
    assert_predictor_matches(backend, tiny[1], image_file[1])


def test_backend_runs_of_prompts_give_the_same_outputs(exported, embedding):
    """OnnxBackend.decode runs an image's prompts at once or prompts_per_run at a time: any split gives the same."""
    rng = np.random.default_rng(3)
    points = rng.uniform(0, SIDE, (2, 7, 2, 2))
    labels = rng.integers(0, 2, (2, 7, 2))
    masks = rng.standard_normal((2, 1, LOW_RES, LOW_RES)).astype(np.float32)
    embeddings = np.concatenate([embedding[1].numpy(), embedding[1].numpy()[:, :, ::-1]])
    whole = OnnxBackend(exported[0])
    assert OnnxBackend(exported[0]).prompts_per_run is None  # all of an image's prompts in one run
    for multimask in (True, False):
        want = whole.decode(embeddings, points=points, labels=labels, masks=masks, multimask_output=multimask)
        for run in (1, 3):
            got = OnnxBackend(exported[0], prompts_per_run=run).decode(
                embeddings, points=points, labels=labels, masks=masks, multimask_output=multimask
            )
            assert got[0].shape == (2, 7, 3 if multimask else 1, LOW_RES, LOW_RES) and got[1].shape == got[0].shape[:3]
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="prompts_per_run must be at least 1"):
        OnnxBackend(exported[0], prompts_per_run=0)


def test_mask_generator_on_the_onnx_backend(tiny, exported, image_file):
    assert_generator_matches(OnnxBackend(exported[0]), tiny[1], image_file[1])


def test_cli_export_writes_the_files_and_the_manifest(tiny, exported, tmp_path, capsys, image_file):
    out = tmp_path / "export"
    shutil.copytree(exported[0], out)
    assert sorted(os.listdir(out)) == ["decoder.onnx", "decoder_lowres.onnx", MANIFEST_NAME, "encoder.onnx"]
    manifest = read_json(out / MANIFEST_NAME)
    assert manifest["config"] == tiny[1].config.to_dict() and manifest["opset"] >= 17
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(out / name) and entry["bytes"] == os.path.getsize(out / name)
    assert manifest["preprocessing"]["image_size"] == SIDE and len(manifest["preprocessing"]["pixel_mean"]) == 3
    assert manifest["encoder"]["inputs"] == {"pixel_values": [1, 3, SIDE, SIDE]}
    assert manifest["decoder"]["inputs"]["point_coords"] == [1, "num_points", 2]
    assert manifest["decoder"]["outputs"]["low_res_masks"] == [1, 4, LOW_RES, LOW_RES]
    assert manifest["decoder_lowres"]["inputs"]["point_coords"] == ["num_prompts", "num_points", 2]
    assert manifest["decoder_lowres"]["outputs"]["low_res_masks"] == ["num_prompts", 4, LOW_RES, LOW_RES]

    seg_onnx, seg_torch = tmp_path / "seg_onnx", tmp_path / "seg_torch"
    prompt = ["--point", "20.5,14", "--point", "50,33,0", "--multimask"]
    onnx_run = ["segment", image_file[0], *prompt, "--backend", "onnx", "--model", out, "--out", seg_onnx]
    code, _, err = run_cli(capsys, *onnx_run)
    assert code == 0, err
    code, _, err = run_cli(capsys, "segment", image_file[0], *prompt, "--model", tiny[0], "--out", seg_torch)
    assert code == 0, err
    ours, reference = read_json(seg_onnx / "result.json"), read_json(seg_torch / "result.json")
    assert ours["backend"] == "onnx" and ours["model"]["format"] == "onnx export"
    np.testing.assert_allclose(ours["scores"], reference["scores"], atol=1e-4)

    with open(out / "decoder_lowres.onnx", "ab") as handle:  # a damaged file is refused by its hash
        handle.write(b"\0")
    code, _, err = run_cli(capsys, *onnx_run)
    assert_bad_input(code, err, "segment", "does not match its sha256")


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--format", "coreml"], "unknown export format"),
        (["--quantize", "int4"], "unknown quantization"),
        (["--backend", "tf"], "runs from the torch backend"),
        (["--opset", "13"], "opset must be at least 17"),
    ],
)
def test_cli_export_bad_input(tiny, tmp_path, capsys, argv, match):
    code, _, err = run_cli(capsys, "export", tiny[0], "--out", tmp_path / "x", *argv)
    assert_bad_input(code, err, "export", match)


def test_backend_onnx_bad_input(tiny, image_file, tmp_path, capsys):
    segment = ["segment", image_file[0], "--point", "20,14", "--backend", "onnx", "--out", tmp_path / "out"]
    code, _, err = run_cli(capsys, *segment)
    assert_bad_input(code, err, "segment", "--model EXPORT_DIR")
    code, _, err = run_cli(capsys, *segment, "--model", tiny[0])
    assert_bad_input(code, err, "segment", "not a dualsam ONNX export")
    code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "20,14", "--model", tiny[0], "--config",
                           "sam-vit-base", "--backend", "onnx", "--out", tmp_path / "out")  # fmt: skip
    assert_bad_input(code, err, "segment", "--config does not apply")


def test_missing_onnxruntime_is_one_install_line(monkeypatch, exported):
    import sys

    from dualsam import models
    from dualsam.runtimes import onnx_backend

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(onnx_backend.RuntimeMissingError, match=r"pip install 'dualsam\[onnx\]'"):
        OnnxBackend(exported[0])
    monkeypatch.setattr(onnx_backend, "is_available", lambda: False)
    with pytest.raises(models.ModelError, match=r"^backend onnx is not installed: pip install 'dualsam\[onnx\]'$"):
        models.resolve_backend("onnx")


def test_int8_export_runs_and_is_smaller(tmp_path):
    """A config whose weights outweigh its constants (the tiny one's are mostly positional tables)."""
    from sam_core import SamConfig
    from sam_torch import SamModel

    config = SamConfig(
        vision_config=dict(hidden_size=192, num_hidden_layers=2, num_attention_heads=4, mlp_dim=768,
                           output_channels=128, image_size=256, window_size=8, global_attn_indexes=[1],
                           num_pos_feats=64),
        prompt_encoder_config=dict(hidden_size=128, image_size=256, image_embedding_size=16, mask_input_channels=16),
        mask_decoder_config=dict(hidden_size=128, mlp_dim=512, num_attention_heads=4, iou_head_hidden_dim=128),
    )  # fmt: skip
    model = SamModel(config).eval()
    state = informative_state({k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    result = export_onnx(model, tmp_path, quantize="int8")
    for name in ("encoder", "decoder", "decoder_lowres"):
        assert os.path.getsize(tmp_path / f"{name}.int8.onnx") < os.path.getsize(tmp_path / f"{name}.onnx")
        assert result.manifest[name]["int8_file"] == f"{name}.int8.onnx"
    backend = OnnxBackend(tmp_path, precision="int8")
    predictor = SamPredictor(backend)
    predictor.set_image(np.full((40, 60, 3), 128, np.uint8))
    masks, scores, _ = predictor.predict(np.array([[30.0, 20.0]]), np.array([1]))
    assert masks.shape == (3, 40, 60) and np.isfinite(scores).all()


def test_the_onnx_backend_imports_no_framework(exported, image_file, tmp_path):
    """``dualsam segment|generate --backend onnx`` in a fresh process with torch and TensorFlow installed: neither
    is imported (nor keras)."""
    assert_cli_imports_no_framework("onnx", exported[0], image_file[0], str(tmp_path))
