"""``dualsam generate``: masks.json decodes (pycocotools) to what SamAutomaticMaskGenerator returns directly, the
overlay, progress, and bad inputs.

The tiny model has random weights: its predicted IoUs are near 0 (some negative), its masks unstable, and its boxes
overlap heavily. The tests therefore pass --pred-iou-thresh -10, --stability-score-thresh 0 and --box-nms-thresh 1
so that masks survive to be compared (with Meta's defaults nothing, or a single mask, would be left).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from sam_core.mask_generator import SamAutomaticMaskGenerator
from tests.helpers.cli_helpers import assert_bad_input, image_file, no_temporary_files, read_json, run_cli, tiny  # noqa: F401

mask_utils = pytest.importorskip("pycocotools.mask")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools, numpy 2

LOW_THRESHOLDS = ["--pred-iou-thresh", "-10", "--stability-score-thresh", "0", "--box-nms-thresh", "1"]
SMALL_GRID = ["--points-per-side", "4", "--points-per-batch", "7"]


def _generate(capsys, tiny, image_file, out, *extra) -> tuple[list[dict], str]:
    code, _, err = run_cli(
        capsys, "generate", image_file[0], *SMALL_GRID, *LOW_THRESHOLDS, "--model", tiny[0], "--out", out, *extra
    )  # fmt: skip
    assert code == 0, err
    return read_json(os.path.join(out, "masks.json")), err


def test_masks_json_decodes_to_the_generator_masks(tiny, image_file, tmp_path, capsys):
    out = tmp_path / "out"
    records, _ = _generate(capsys, tiny, image_file, out, "--no-progress")
    assert sorted(os.listdir(out)) == ["masks.json", "overlay.png"] and no_temporary_files(out)
    direct = SamAutomaticMaskGenerator(
        tiny[1], points_per_side=4, points_per_batch=7, pred_iou_thresh=-10, stability_score_thresh=0,
        box_nms_thresh=1, progress=False,
    ).generate(image_file[1])  # fmt: skip
    assert len(records) == len(direct) > 1
    for record, expected in zip(records, direct):
        rle = dict(record["segmentation"], counts=record["segmentation"]["counts"].encode())
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), expected["segmentation"])
        assert record["segmentation"]["size"] == [45, 67]
        for key in ("area", "bbox", "point_coords", "crop_box"):
            assert record[key] == expected[key], key
        for key in ("predicted_iou", "stability_score"):
            assert record[key] == pytest.approx(expected[key], abs=1e-6), key
    with Image.open(out / "overlay.png") as overlay:
        assert overlay.size == (67, 45) and overlay.mode == "RGB"


def test_amg_options_reach_the_generator(tiny, image_file, tmp_path, capsys):
    """Crops and small-region removal run; min area 5 on a 45x67 image keeps every mask's area >= 5 or removes it."""
    records, _ = _generate(
        capsys, tiny, image_file, tmp_path / "o", "--crop-n-layers", "1", "--crop-nms-thresh", "1",
        "--min-mask-region-area", "5", "--no-progress",
    )  # fmt: skip
    direct = SamAutomaticMaskGenerator(
        tiny[1], points_per_side=4, points_per_batch=7, pred_iou_thresh=-10, stability_score_thresh=0,
        box_nms_thresh=1, crop_n_layers=1, crop_nms_thresh=1, min_mask_region_area=5, output_mode="coco_rle",
    ).generate(image_file[1])  # fmt: skip
    assert records == direct


def test_progress_bar(tiny, image_file, tmp_path, capsys):
    _, err = _generate(capsys, tiny, image_file, tmp_path / "a", "--progress")
    assert "point batches" in err
    _, err = _generate(capsys, tiny, image_file, tmp_path / "b", "--no-progress")
    assert "point batches" not in err


def test_nothing_survives_meta_defaults_with_random_weights(tiny, image_file, tmp_path, capsys):
    code, out, err = run_cli(capsys, "generate", image_file[0], *SMALL_GRID, "--model", tiny[0], "--out", tmp_path)
    assert code == 0, err
    assert read_json(tmp_path / "masks.json") == [] and "0 masks" in out
    assert "no mask passed the thresholds" in err
    with Image.open(tmp_path / "overlay.png") as overlay:
        np.testing.assert_array_equal(np.asarray(overlay), image_file[1])


@pytest.mark.parametrize(
    "args, match",
    [
        (["--points-per-side", "0"], "points_per_side must be a positive integer"),
        (["--points-per-side", "x"], "invalid int value: 'x'"),
        (["--crop-n-layers", "-1"], "crop_n_layers must be a non-negative integer"),
        (["--min-mask-region-area", "-3"], "min_mask_region_area must be >= 0"),
        (["--pred-iou-thresh", "high"], "invalid float value"),
        (["--backend", "mxnet"], "unknown backend"),
        (["--progress", "--no-progress"], "not allowed with argument"),
    ],
)
def test_bad_options(tiny, image_file, tmp_path, capsys, args, match):
    code, _, err = run_cli(capsys, "generate", image_file[0], *args, "--model", tiny[0], "--out", tmp_path / "o")
    assert_bad_input(code, err, "generate", match=match)
    assert not (tmp_path / "o").exists()


def test_bad_image_model_and_output(tiny, image_file, tmp_path, capsys):
    code, _, err = run_cli(capsys, "generate", tmp_path / "missing.jpg", "--model", tiny[0])
    assert_bad_input(code, err, "generate", match="does not exist")
    code, _, err = run_cli(capsys, "generate", image_file[0], "--model", tmp_path / "nowhere")
    assert_bad_input(code, err, "generate", match="does not exist")
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, "generate", image_file[0], "--model", tiny[0], "--out", tmp_path / "file")
    assert_bad_input(code, err, "generate", match="is not a directory")
    victim = tmp_path / "masks.json"
    Image.fromarray(image_file[1]).save(victim, format="PNG")
    before = victim.read_bytes()
    code, _, err = run_cli(capsys, "generate", victim, "--model", tiny[0], "--out", tmp_path)
    assert_bad_input(code, err, "generate", match="refusing to overwrite the input image")
    assert victim.read_bytes() == before


def test_without_image_generates_on_the_shipped_example(tiny, tmp_path, capsys):
    from dualsam.cli_common import EXAMPLE_IMAGE

    out = tmp_path / "example"
    code, _, err = run_cli(capsys, "generate", *SMALL_GRID, *LOW_THRESHOLDS, "--no-progress", "--model", tiny[0],
                           "--out", str(out))  # fmt: skip
    assert code == 0, err
    with Image.open(EXAMPLE_IMAGE) as image:
        width, height = image.size
    records = read_json(out / "masks.json")
    assert records and all(r["segmentation"]["size"] == [height, width] for r in records)
