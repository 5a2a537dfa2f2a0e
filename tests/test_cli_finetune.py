"""``dualsam finetune`` and ``dualsam evaluate`` through the CLI: a short run on a mask folder writes a model every
command loads, a log and a before / after report; --resume continues; evaluate reports per category (COCO names);
bad arguments exit 2 with one line. A micro model (128-pixel frame) keeps each run to seconds."""

from __future__ import annotations

import json

import pytest

from sam_core.datasets.demo import DemoShapes, write_coco, write_masks_folder
from tests.helpers.cli_helpers import assert_bad_input, read_json, run_cli
from tests.helpers.training import micro_config

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def micro_dir(tmp_path_factory):
    """A micro SamModel (PyTorch default init, so its masks depend on the prompt) saved with save_pretrained."""
    from sam_torch import SamModel
    from sam_torch.training.initialization import init_for_training

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("micro_model")
    init_for_training(SamModel(micro_config())).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory):
    return str(write_masks_folder(DemoShapes(4, 6, long_side=(64, 112)), tmp_path_factory.mktemp("folder")))


@pytest.fixture(scope="module")
def coco_data(tmp_path_factory):
    return str(write_coco(DemoShapes(5, 3, long_side=(64, 112)), tmp_path_factory.mktemp("coco")))


def test_finetune_writes_a_loadable_model_log_and_report(capsys, tmp_path, micro_dir, folder_data):
    out = tmp_path / "run"
    args = ["finetune", "--data", folder_data, "--model", micro_dir, "--steps", "2", "--batch-size", "2",
            "--val-split", "0.34", "--out", out, "--no-progress", "--freeze", "image_encoder"]  # fmt: skip
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    assert stdout.splitlines()[0].startswith("before: point mIoU ") and "after: point mIoU" in stdout
    report = read_json(out / "report.json")
    assert report["steps"] == report["total_steps"] == 2 and report["backend"] == "torch"
    assert (report["train_items"], report["val_items"]) == (4, 2)
    assert report["config"]["freeze_vision_encoder"] and not report["config"]["freeze_prompt_encoder"]
    for evaluation in (report["before"], report["after"]):
        assert 0.0 <= evaluation["point_miou"] <= 1.0 and set(evaluation["per_category"]) == {"0"}
    records = [json.loads(line) for line in open(out / "train_log.jsonl")]
    assert [r["step"] for r in records if "loss" in r] == [1, 2]
    # The frozen encoder kept its weights; the decoder moved.
    from sam_torch import SamModel

    before, after = SamModel.from_pretrained(micro_dir), SamModel.from_pretrained(out / "model")
    assert torch.equal(before.vision_encoder.patch_embed.projection.weight,
                       after.vision_encoder.patch_embed.projection.weight)  # fmt: skip
    assert not torch.equal(before.mask_decoder.iou_token.weight, after.mask_decoder.iou_token.weight)
    # OUT/model works as --model for the other commands.
    code, stdout, err = run_cli(capsys, "segment", "--model", out / "model", "--out", tmp_path / "seg")
    assert code == 0, err
    # --resume of a finished run trains no more steps and reports again.
    code, stdout, err = run_cli(capsys, "finetune", "--data", folder_data, "--val-split", "0.34", "--out", out,
                                "--resume", "--no-progress")  # fmt: skip
    assert code == 0, err
    again = read_json(out / "report.json")
    assert again["steps"] == 2 and again["before"] == report["before"] and again["model"] == "checkpoint"


def test_evaluate_reports_per_category_with_coco_names(capsys, tmp_path, micro_dir, coco_data):
    code, stdout, err = run_cli(capsys, "evaluate", "--data", coco_data, "--model", micro_dir, "--backend", "torch",
                                "--out", tmp_path / "eval.json")  # fmt: skip
    assert code == 0, err
    report = read_json(tmp_path / "eval.json")
    objects = sum(len(DemoShapes(5, 3, long_side=(64, 112))[i].masks) for i in range(3))
    assert report["items"] == 3 and report["objects"] == objects and report["backend"] == "torch"
    names = {values["name"] for values in report["per_category"].values()}
    assert names <= {"ring", "cross", "bar"} and names
    assert sum(v["objects"] for v in report["per_category"].values()) == objects
    assert stdout.startswith(f"3 items, {objects} objects: point mIoU ")


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--steps", "2", "--epochs", "1"], "not allowed with argument"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--val-split", "1.5"], "--val-split must be in [0, 1)"),
        (["--freeze", "image_encoder,decoder"], "--freeze: unknown part decoder"),
        (["--resume"], "--resume: no checkpoint in"),
        (["--backend", "jax"], "unknown backend 'jax'"),
    ],
)
def test_finetune_bad_arguments_are_one_line(capsys, tmp_path, folder_data, extra, match):
    code, _, err = run_cli(capsys, "finetune", "--data", folder_data, "--out", tmp_path / "run", *extra)
    assert_bad_input(code, err, "finetune", match)


def test_finetune_refuses_the_input_as_out_and_missing_data(capsys, tmp_path, folder_data):
    code, _, err = run_cli(capsys, "finetune", "--data", folder_data, "--out", folder_data, "--steps", "1")
    assert_bad_input(code, err, "finetune", "--out")
    code, _, err = run_cli(capsys, "finetune", "--data", tmp_path / "nowhere", "--out", tmp_path / "o", "--steps", "1")
    assert_bad_input(code, err, "finetune", "does not exist")
    code, _, err = run_cli(capsys, "finetune", "--out", tmp_path / "o")
    assert_bad_input(code, err, "finetune", "--data")


def test_evaluate_bad_arguments_are_one_line(capsys, tmp_path, folder_data):
    code, _, err = run_cli(capsys, "evaluate", "--data", tmp_path / "missing.json")
    assert_bad_input(code, err, "evaluate", "does not exist")
    code, _, err = run_cli(capsys, "evaluate", "--data", folder_data, "--limit", "0")
    assert_bad_input(code, err, "evaluate", "--limit must be >= 1")


def test_finetune_with_the_keras_backend(capsys, tmp_path, micro_dir, folder_data):
    """--backend tf runs sam_tf.training.Trainer with the same arguments; its OUT/model loads in either backend."""
    pytest.importorskip("tensorflow")
    out = tmp_path / "tf_run"
    code, stdout, err = run_cli(capsys, "finetune", "--data", folder_data, "--model", micro_dir, "--backend", "tf",
                                "--steps", "2", "--batch-size", "2", "--val-split", "0.34", "--out", out,
                                "--no-progress")  # fmt: skip
    assert code == 0, err
    report = read_json(out / "report.json")
    assert report["backend"] == "tf" and report["steps"] == 2 and report["after"] is not None
    records = [json.loads(line) for line in open(out / "train_log.jsonl")]
    assert [r["step"] for r in records if "loss" in r] == [1, 2]
    code, _, err = run_cli(capsys, "evaluate", "--data", folder_data, "--model", out / "model", "--backend", "torch")
    assert code == 0, err
