"""sam_core.amg against transformers 4.57's SamImageProcessor helpers, on the same inputs.

Where transformers is right the results must be equal; where it is wrong (or differs from Meta, which we
follow), a test pins the difference so that it stays deliberate.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers.models.sam import image_processing_sam as hf  # noqa: E402

from sam_core.amg import (  # noqa: E402
    build_point_grid,
    crop_boxes_and_layers,
    filter_masks,
    generate_crop_boxes,
    masks_to_boxes,
    masks_to_rle,
    post_process_for_mask_generation,
    rle_to_mask,
    stability_score,
)

#: Exactly equal, up to float32 rounding of the same arithmetic.
EXACT_ATOL = 1e-6


@pytest.fixture(scope="module")
def processor():
    return transformers.SamImageProcessor()


def _logits(shape, seed=0, scale=3.0):
    """Smooth random logits (a sum of blobs), so that masks have real regions and stability varies."""
    rng = np.random.default_rng(seed)
    *lead, height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    out = np.zeros(shape, dtype=np.float32)
    for index in np.ndindex(*lead):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.1, 0.5) * height, rng.uniform(0.1, 0.5) * width
        blob = 1 - ((yy - cy) / ry) ** 2 - ((xx - cx) / rx) ** 2
        out[index] = scale * blob + rng.normal(0, 0.3, (height, width))
    return out


def test_point_grid_equals_transformers():
    for n in (1, 5, 32):
        np.testing.assert_array_equal(build_point_grid(n), hf._build_point_grid(n))


@pytest.mark.parametrize("size", [(480, 640), (333, 517), (1000, 300)])
@pytest.mark.parametrize("layers", [0, 1, 2])
def test_crop_box_layout_equals_transformers(size, layers):
    boxes, layer_idx = crop_boxes_and_layers(size, layers, 512 / 1500)
    ref_boxes, ref_layers = hf._generate_per_layer_crops(layers, 512 / 1500, size)
    assert boxes == ref_boxes and layer_idx == ref_layers


def test_generate_crop_boxes_layer0_equals_transformers(processor):
    image = np.random.default_rng(0).integers(0, 255, (77, 131, 3), dtype=np.uint8)
    ours = generate_crop_boxes(image, 1024, points_per_crop=6)
    ref = processor.generate_crop_boxes(image, 1024, points_per_crop=6)
    np.testing.assert_array_equal(ours[0], ref[0].numpy())
    np.testing.assert_allclose(ours[1], ref[1].numpy(), atol=EXACT_ATOL)
    np.testing.assert_array_equal(ours[2][0], ref[2][0])
    np.testing.assert_array_equal(ours[3], ref[3].numpy())


def test_generate_crop_boxes_with_crops_differs_from_transformers(processor):
    """transformers scales every crop's points by the full image's resize; Meta (and we) use the crop's own."""
    image = np.zeros((300, 200, 3), dtype=np.uint8)
    boxes, points, crops, labels = generate_crop_boxes(image, 1024, crop_n_layers=1, points_per_crop=4)
    ref = processor.generate_crop_boxes(image, 1024, crop_n_layers=1, points_per_crop=4)
    np.testing.assert_array_equal(boxes, ref[0].numpy())
    assert [c.shape for c in crops] == [c.shape for c in ref[2]]
    ref_points = ref[1].numpy()
    assert points.shape == ref_points.shape == (1, 16, 5, 2)
    np.testing.assert_allclose(points[0, :, 0], ref_points[0, :, 0], atol=EXACT_ATOL)  # the full image agrees
    for index in range(1, len(boxes)):
        x0, y0, x1, y1 = boxes[index].astype(int)
        scale = 1024 / max(y1 - y0, x1 - x0)
        expected = build_point_grid(4) * [x1 - x0, y1 - y0]
        expected = expected * [int((x1 - x0) * scale + 0.5) / (x1 - x0), int((y1 - y0) * scale + 0.5) / (y1 - y0)]
        np.testing.assert_allclose(points[0, :, index], expected, atol=EXACT_ATOL)
        assert not np.allclose(points[0, :, index], ref_points[0, :, index])
    assert (labels == 1).all()


def test_generate_crop_boxes_pads_uneven_layers():
    """With a downscale factor the layers differ in points; transformers cannot stack them (ragged array)."""
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    _, points, _, labels = generate_crop_boxes(
        image, 1024, crop_n_layers=1, points_per_crop=4, crop_n_points_downscale_factor=2
    )
    assert points.shape == (1, 16, 5, 2) and labels.shape == (1, 16, 5)
    assert (labels[0, :, 0] == 1).all() and (labels[0, :4, 1:] == 1).all() and (labels[0, 4:, 1:] == -10).all()


def test_stability_and_boxes_equal_transformers():
    logits = _logits((6, 37, 53))
    ref = hf._compute_stability_score_pt(torch.from_numpy(logits), 0.0, 1.0).numpy()
    np.testing.assert_array_equal(stability_score(logits, 0.0, 1.0), ref)
    masks = logits > 0
    masks[2] = False  # an empty mask gives (0, 0, 0, 0)
    np.testing.assert_array_equal(masks_to_boxes(masks), hf._batched_mask_to_box(torch.from_numpy(masks)).numpy())


def test_rle_equals_transformers():
    masks = _logits((5, 23, 31)) > 0
    masks[0] = True
    masks[1] = False
    ours = masks_to_rle(masks)
    assert ours == hf._mask_to_rle_pytorch(torch.from_numpy(masks))
    for rle, mask in zip(ours, masks):
        np.testing.assert_array_equal(rle_to_mask(rle), hf._rle_to_mask(rle))
        np.testing.assert_array_equal(rle_to_mask(rle), mask)


def _thresholds_without_ties(stability: np.ndarray, iou: np.ndarray) -> tuple[float, float]:
    """Median thresholds that no score equals (transformers uses > for stability where Meta uses >=)."""
    return float(np.median(iou)) + 1e-4, float(np.nanmedian(stability)) + 1e-4


def test_filter_masks_full_image_equals_transformers(processor):
    logits = _logits((4, 3, 40, 56))
    iou = np.random.default_rng(1).uniform(0.5, 1.0, (4, 3)).astype(np.float32)
    iou_t, stab_t = _thresholds_without_ties(stability_score(logits, 0, 1), iou)
    ours = filter_masks(logits, iou, (40, 56), [0, 0, 56, 40], pred_iou_thresh=iou_t, stability_score_thresh=stab_t)
    ref = processor.filter_masks(
        torch.from_numpy(logits), torch.from_numpy(iou), (40, 56), [0, 0, 56, 40],
        pred_iou_thresh=iou_t, stability_score_thresh=stab_t,
    )  # fmt: skip
    assert len(ours[0]) > 0
    assert ours[0] == ref[0]
    np.testing.assert_array_equal(ours[1], ref[1].numpy())
    np.testing.assert_array_equal(ours[2], ref[2].numpy())


def test_filter_masks_in_a_crop_differs_only_in_box_frame(processor):
    """In a crop, transformers returns boxes in the crop's frame; we return them in the image's (as Meta)."""
    crop_box, image_size = [50, 40, 150, 120], (300, 300)
    logits = np.full((2, 3, 80, 100), -3.0, dtype=np.float32)
    for k, (y0, y1, x0, x1) in enumerate([(30, 50, 35, 65), (5, 20, 2, 30), (0, 80, 0, 100)]):
        logits[:, k, y0:y1, x0:x1] = 3.0  # inside the crop; touching its inner edge; the whole crop
    logits[1, 0, 35:40, 40:50] = 0.5  # less stable
    iou = np.ones((2, 3), dtype=np.float32)
    ours = filter_masks(logits, iou, image_size, crop_box, pred_iou_thresh=0.5, stability_score_thresh=0.5 + 1e-4)
    ref = processor.filter_masks(
        torch.from_numpy(logits), torch.from_numpy(iou), image_size, crop_box,
        pred_iou_thresh=0.5, stability_score_thresh=0.5 + 1e-4,
    )  # fmt: skip
    assert len(ours[0]) == 2
    assert ours[0] == ref[0]
    np.testing.assert_array_equal(ours[1], ref[1].numpy())
    np.testing.assert_array_equal(ours[2], ref[2].numpy() + [50, 40, 50, 40])


def test_stability_threshold_is_inclusive_unlike_transformers(processor):
    """A mask whose stability equals the threshold survives in Meta (>=) and here, not in transformers (>)."""
    logits = np.full((1, 1, 8, 8), -5.0, dtype=np.float32)
    logits[..., :4, :] = 5.0  # 32 pixels > +1
    logits[..., 4:5, :] = 0.5  # 8 more pixels > -1: stability 32 / 40 = 0.8 exactly
    iou = np.ones((1, 1), dtype=np.float32)
    ours = filter_masks(logits, iou, (8, 8), [0, 0, 8, 8], pred_iou_thresh=0.5, stability_score_thresh=0.8)
    ref = processor.filter_masks(
        torch.from_numpy(logits), torch.from_numpy(iou), (8, 8), [0, 0, 8, 8],
        pred_iou_thresh=0.5, stability_score_thresh=0.8,
    )  # fmt: skip
    assert len(ours[0]) == 1 and len(ref[0]) == 0


def test_empty_masks_are_dropped():
    """All-background logits: stability is 0/0 (NaN), which fails the threshold here and in transformers."""
    logits = np.full((2, 3, 16, 16), -4.0, dtype=np.float32)
    rles, scores, boxes = filter_masks(logits, np.ones((2, 3), np.float32), (16, 16), [0, 0, 16, 16])
    assert rles == [] and scores.shape == (0,) and boxes.shape == (0, 4)


def test_post_process_for_mask_generation_equals_transformers(processor, monkeypatch):
    """transformers' NMS step needs torchvision (absent here); ours stands in for it, and test_amg_nms checks
    ours against torchvision itself."""
    if not hasattr(hf, "batched_nms"):
        from sam_core.amg import batched_nms

        def torch_batched_nms(boxes, scores, idxs, iou_threshold):
            return torch.from_numpy(batched_nms(boxes.numpy(), scores.numpy(), idxs.numpy(), iou_threshold))

        monkeypatch.setattr(hf, "batched_nms", torch_batched_nms, raising=False)
    masks = _logits((12, 30, 40), seed=5) > 0
    rles = masks_to_rle(masks)
    boxes = masks_to_boxes(masks)
    scores = np.random.default_rng(2).uniform(0, 1, 12).astype(np.float32)
    ours = post_process_for_mask_generation(rles, scores, boxes, 0.5)
    ref = processor.post_process_for_mask_generation(rles, torch.from_numpy(scores), torch.from_numpy(boxes), 0.5)
    assert ours[2] == ref[2]
    np.testing.assert_array_equal(ours[1], ref[1].numpy())
    np.testing.assert_array_equal(ours[3], ref[3].numpy())
    for a, b in zip(ours[0], ref[0]):
        np.testing.assert_array_equal(a, b)


def test_post_process_with_crop_boxes_prefers_smaller_crops():
    """Meta scores the cross-crop NMS by 1 / crop area; transformers by predicted IoU."""
    masks = np.zeros((2, 20, 20), dtype=bool)
    masks[:, 5:15, 5:15] = True
    rles, boxes = masks_to_rle(masks), masks_to_boxes(masks)
    scores = np.array([0.9, 0.5], dtype=np.float32)
    crops = np.array([[0, 0, 20, 20], [0, 0, 12, 12]])
    by_iou = post_process_for_mask_generation(rles, scores, boxes, 0.7)
    by_crop = post_process_for_mask_generation(rles, scores, boxes, 0.7, crop_boxes=crops)
    assert by_iou[1].tolist() == [np.float32(0.9)] and by_crop[1].tolist() == [np.float32(0.5)]


def test_image_processor_methods_delegate_and_keep_the_array_kind(processor):
    """SamImageProcessor exposes transformers' method names; torch in gives torch out, numpy in gives numpy."""
    from sam_core import SamImageProcessor

    ours = SamImageProcessor()
    logits = _logits((4, 3, 40, 56), seed=3)
    iou = np.random.default_rng(4).uniform(0.5, 1.0, (4, 3)).astype(np.float32)
    iou_t, stab_t = _thresholds_without_ties(stability_score(logits, 0, 1), iou)
    kwargs = dict(pred_iou_thresh=iou_t, stability_score_thresh=stab_t)
    rles, scores, boxes = ours.filter_masks(
        torch.from_numpy(logits), torch.from_numpy(iou), (40, 56), [0, 0, 56, 40], **kwargs
    )
    ref = processor.filter_masks(torch.from_numpy(logits), torch.from_numpy(iou), (40, 56), [0, 0, 56, 40], **kwargs)
    assert isinstance(scores, torch.Tensor) and isinstance(boxes, torch.Tensor)
    assert rles == ref[0] and torch.equal(scores, ref[1]) and torch.equal(boxes, ref[2])
    np_out = ours.filter_masks(logits, iou, (40, 56), [0, 0, 56, 40], **kwargs)
    assert isinstance(np_out[1], np.ndarray)
    np.testing.assert_array_equal(np_out[2], ref[2].numpy())

    masks, kept, kept_rles, kept_boxes = ours.post_process_for_mask_generation(rles, scores, boxes, 0.5)
    direct = post_process_for_mask_generation(rles, scores.numpy(), boxes.numpy(), 0.5)
    assert isinstance(kept, torch.Tensor) and kept_rles == direct[2]
    np.testing.assert_array_equal(kept_boxes.numpy(), direct[3])

    image = np.zeros((300, 400, 3), np.uint8)
    crop_boxes, points, crops, labels = ours.generate_crop_boxes(image, 1024, points_per_crop=6, return_tensors="pt")
    ref_boxes, ref_points, _, ref_labels = processor.generate_crop_boxes(image, 1024, points_per_crop=6)
    assert isinstance(points, torch.Tensor)
    np.testing.assert_allclose(crop_boxes.numpy(), ref_boxes.numpy(), atol=EXACT_ATOL)
    np.testing.assert_allclose(points.numpy(), ref_points.numpy(), atol=1e-4)
    np.testing.assert_array_equal(labels.numpy(), ref_labels.numpy())
