"""SamAutomaticMaskGenerator against Meta's (segment-anything in .venv-meta), its memory bound, progress bar
and bad inputs.

Two model set-ups:
- the tiny real SAM with informative random weights. Random weights give masks that cover most of the image
  for every point, so these comparisons lower the thresholds (pred_iou_thresh 0.05, stability 0.7) and turn
  the box NMS off (threshold 1.0) so that many masks survive to be compared;
- the same image encoder with the synthetic disc decoder (tests/oracles/synthetic_decoder.py) on both sides,
  whose local, overlapping, textured masks exercise NMS within and across crops, the crop-edge filter and
  small-region cleaning at the realistic thresholds 0.5 / 0.8.
"""

from __future__ import annotations

import numpy as np
import pytest

import sam_core.mask_generator as mask_generator_module
from sam_core.amg import MaskUpscaler, build_point_grid, coco_rle_to_mask, rle_to_mask
from sam_core.mask_generator import SamAutomaticMaskGenerator
from tests.helpers.images import synthetic_image
from tests.oracles.meta_runner import META_SKIP_REASON, meta_available, run_meta, tf_twin, tiny_model

torch = pytest.importorskip("torch")
from tests.oracles.synthetic_model import SyntheticSam  # noqa: E402

#: One-to-one mask matching against Meta.
MATCH_IOU = 0.99
#: Predicted IoU and stability score against Meta (fp32 model differences, a few flipped pixels).
SCORE_ATOL = 1e-4
STABILITY_ATOL = 1e-3

HEIGHT, WIDTH = 120, 160
SYNTHETIC = dict(points_per_side=6, pred_iou_thresh=0.5, stability_score_thresh=0.8)
REAL = dict(points_per_side=6, pred_iou_thresh=0.05, stability_score_thresh=0.7, box_nms_thresh=1.0)
CASES = {
    "synthetic_crops0": (True, dict(SYNTHETIC)),
    "synthetic_crops2": (True, dict(SYNTHETIC, crop_n_layers=2, crop_n_points_downscale_factor=2, points_per_batch=10)),
    "synthetic_regions": (True, dict(SYNTHETIC, min_mask_region_area=15)),
    "synthetic_regions_crops_coco": (
        True, dict(SYNTHETIC, crop_n_layers=1, min_mask_region_area=15, output_mode="coco_rle")
    ),
    "synthetic_uncompressed": (True, dict(SYNTHETIC, output_mode="uncompressed_rle", points_per_batch=7)),
    "real_crops0": (False, dict(REAL)),
    "real_crops1_coco": (False, dict(REAL, crop_n_layers=1, crop_nms_thresh=1.0, output_mode="coco_rle")),
}  # fmt: skip


@pytest.fixture(scope="module")
def image():
    return synthetic_image(HEIGHT, WIDTH)


@pytest.fixture(scope="module")
def real():
    return tiny_model(mask_logit_scale=10.0)


@pytest.fixture(scope="module")
def synthetic(real):
    return SyntheticSam(real[0])


@pytest.fixture(scope="module")
def meta(real, image, tmp_path_factory):
    if not meta_available():
        pytest.skip(META_SKIP_REASON)
    _, config, state = real
    tasks = [dict(kind="amg", name=name, kwargs=kwargs, synthetic=syn) for name, (syn, kwargs) in CASES.items()]
    arrays, report = run_meta(str(tmp_path_factory.mktemp("meta_amg")), config, state, image, tasks)
    return arrays, report


def _masks(records, mode, arrays=None, name=None):
    if arrays is not None and mode == "binary_mask":
        return [arrays[f"{name}/mask{i}"] for i in range(len(records))]
    decode = {"binary_mask": lambda s: s, "coco_rle": coco_rle_to_mask, "uncompressed_rle": rle_to_mask}[mode]
    return [decode(record["segmentation"]) for record in records]


def _match(ours, reference):
    """Greedy one-to-one matching by mask IoU; returns (our index, reference index, IoU) triples."""
    pairs, used = [], set()
    for i, mask in enumerate(ours):
        ious = [
            -1.0 if j in used else (mask & ref).sum() / max(1, (mask | ref).sum()) for j, ref in enumerate(reference)
        ]
        j = int(np.argmax(ious))
        used.add(j)
        pairs.append((i, j, ious[j]))
    return pairs


@pytest.mark.parametrize("name", list(CASES))
def test_matches_meta(name, meta, real, synthetic, image):
    use_synthetic, kwargs = CASES[name]
    arrays, report = meta
    reference = report[name]["records"]
    ours = SamAutomaticMaskGenerator(synthetic if use_synthetic else real[0], **kwargs).generate(image)
    assert len(ours) == len(reference) > 5
    mode = kwargs.get("output_mode", "binary_mask")
    our_masks, ref_masks = _masks(ours, mode), _masks(reference, mode, arrays, name)
    for i, j, iou in _match(our_masks, ref_masks):
        assert iou >= MATCH_IOU, (i, j, iou)
        a, b = ours[i], reference[j]
        assert abs(a["predicted_iou"] - b["predicted_iou"]) <= SCORE_ATOL
        assert abs(a["stability_score"] - b["stability_score"]) <= STABILITY_ATOL
        assert a["crop_box"] == b["crop_box"]
        np.testing.assert_allclose(a["point_coords"], b["point_coords"], atol=1e-9)
        np.testing.assert_allclose(a["bbox"], b["bbox"], atol=1)
        assert abs(a["area"] - b["area"]) <= 0.01 * b["area"]
        assert a["area"] == int(our_masks[i].sum())
    if mode == "coco_rle":
        assert all(isinstance(r["segmentation"]["counts"], str) for r in ours)
    if mode == "binary_mask":
        assert all(r["segmentation"].shape == (HEIGHT, WIDTH) and r["segmentation"].dtype == bool for r in ours)


def test_both_backends_give_the_same_records(real, image):
    """sam_torch.SamModel and sam_tf.TFSamModel on the same weights: the same masks, scores and boxes."""
    model, config, state = real
    kwargs = dict(REAL, crop_n_layers=1, crop_nms_thresh=1.0, output_mode="uncompressed_rle")
    torch_records = SamAutomaticMaskGenerator(model, **kwargs).generate(image)
    tf_records = SamAutomaticMaskGenerator(tf_twin(config, state), **kwargs).generate(image)
    assert len(tf_records) == len(torch_records) > 5
    ours, reference = _masks(tf_records, "uncompressed_rle"), _masks(torch_records, "uncompressed_rle")
    for i, j, iou in _match(ours, reference):
        assert iou >= MATCH_IOU
        assert abs(tf_records[i]["predicted_iou"] - torch_records[j]["predicted_iou"]) <= SCORE_ATOL
        assert abs(tf_records[i]["stability_score"] - torch_records[j]["stability_score"]) <= STABILITY_ATOL
        assert tf_records[i]["crop_box"] == torch_records[j]["crop_box"]


def test_record_format(synthetic, image):
    records = SamAutomaticMaskGenerator(synthetic, **SYNTHETIC).generate(image)
    assert records
    record = records[0]
    fields = {"segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box"}
    assert set(record) == fields
    assert isinstance(record["area"], int) and all(isinstance(v, int) for v in record["bbox"] + record["crop_box"])
    assert isinstance(record["predicted_iou"], float) and isinstance(record["stability_score"], float)
    assert len(record["point_coords"]) == 1 and len(record["point_coords"][0]) == 2
    assert record["crop_box"] == [0, 0, WIDTH, HEIGHT]


def test_bounded_memory_chunks_do_not_change_results(synthetic, image, monkeypatch):
    """Upscaling one mask at a time gives the same records, and no call ever upscales more than one chunk."""
    kwargs = dict(SYNTHETIC, points_per_batch=7)
    expected = SamAutomaticMaskGenerator(synthetic, **kwargs).generate(image)
    largest = []

    original = MaskUpscaler.column_chunks

    def recording_chunks(self, logits):
        largest.append(len(logits))
        return original(self, logits)

    monkeypatch.setattr(MaskUpscaler, "column_chunks", recording_chunks)
    monkeypatch.setattr(mask_generator_module, "UPSCALE_CHUNK_BYTES", 1)
    chunked = SamAutomaticMaskGenerator(synthetic, **kwargs).generate(image)
    assert max(largest) == 1
    assert len(chunked) == len(expected)
    for a, b in zip(chunked, expected):
        assert (a["segmentation"] == b["segmentation"]).all() and a["bbox"] == b["bbox"]


def test_nothing_survives_returns_empty_list(synthetic, image):
    """Meta's generator crashes here when crop_n_layers > 0 (box_area of an empty crop_boxes tensor)."""
    for layers in (0, 1):
        generator = SamAutomaticMaskGenerator(synthetic, points_per_side=3, pred_iou_thresh=1.0, crop_n_layers=layers)
        assert generator.generate(image) == []


def test_progress_bar(synthetic, image, capsys):
    SamAutomaticMaskGenerator(synthetic, points_per_side=2, points_per_batch=2, progress=True).generate(image)
    assert "point batches" in capsys.readouterr().err
    SamAutomaticMaskGenerator(synthetic, points_per_side=2, points_per_batch=2, progress=False).generate(image)
    assert capsys.readouterr().err == ""
    SamAutomaticMaskGenerator(synthetic, points_per_side=2, points_per_batch=2).generate(image)  # stderr: no TTY
    assert capsys.readouterr().err == ""


def test_explicit_point_grids(synthetic, image):
    by_side = SamAutomaticMaskGenerator(synthetic, **SYNTHETIC).generate(image)
    kwargs = {k: v for k, v in SYNTHETIC.items() if k != "points_per_side"}
    by_grid = SamAutomaticMaskGenerator(synthetic, points_per_side=None, point_grids=[build_point_grid(6)], **kwargs)
    assert [r["bbox"] for r in by_grid.generate(image)] == [r["bbox"] for r in by_side]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(points_per_side=0), "points_per_side"),
        (dict(points_per_side=-3), "points_per_side"),
        (dict(points_per_side=2.5), "points_per_side"),
        (dict(point_grids=[np.zeros((4, 2))]), "Exactly one"),
        (dict(points_per_side=None), "Exactly one"),
        (dict(points_per_side=None, point_grids=[np.zeros((4, 2))], crop_n_layers=1), "crop_n_layers"),
        (dict(points_per_side=None, point_grids=[np.full((4, 2), 2.0)]), r"\[0, 1\]"),
        (dict(points_per_side=None, point_grids=[np.zeros((4, 3))]), r"\(N, 2\)"),
        (dict(points_per_batch=0), "points_per_batch"),
        (dict(crop_n_layers=-1), "crop_n_layers"),
        (dict(crop_n_points_downscale_factor=0), "crop_n_points_downscale_factor"),
        (dict(points_per_side=2, crop_n_layers=2, crop_n_points_downscale_factor=2), "no points"),
        (dict(output_mode="polygon"), "output_mode"),
        (dict(min_mask_region_area=-1), "min_mask_region_area"),
    ],
)
def test_bad_arguments(synthetic, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamAutomaticMaskGenerator(synthetic, **kwargs)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (np.zeros((5, 5), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((5, 5, 3)), "uint8"),
    ],
)
def test_bad_images(synthetic, bad, message):
    with pytest.raises(ValueError, match=message):
        SamAutomaticMaskGenerator(synthetic, points_per_side=2).generate(bad)
