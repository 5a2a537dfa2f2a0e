"""Parity of sam_tf.TFSamModel with sam_torch.SamModel on the same informative random weights, over the case
matrix of test_torch_parity (a tiny config by default, ViT-B under the slow marker)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch

from sam_core import SamConfig, SamImageProcessor, SamProcessor
from tests.helpers.sam_weights import tiny_config
from tests.helpers.tf_twins import make_tf_twins, torch_inputs
from tests.helpers.tolerances import assert_masks_agree, assert_outputs_close
from tests.test_torch_parity import CASES, LANDSCAPE, PORTRAIT, _slimsam_shaped


@pytest.fixture(scope="module")
def twins():
    ours, reference, _ = make_tf_twins(tiny_config(), seed=0)
    return ours, reference


@pytest.fixture(scope="module")
def processor():
    return SamProcessor(SamImageProcessor())


def _run_both(ours, reference, processor, case: dict, **extra):
    case = dict(case)
    multimask = case.pop("multimask_output", True)
    inputs = processor(**case, return_tensors="tf")
    tf_out = ours(**inputs, multimask_output=multimask, **extra)
    with torch.no_grad():
        pt_out = reference(**torch_inputs(inputs), multimask_output=multimask, **extra)
    return inputs, tf_out, pt_out


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matrix_matches_torch(twins, processor, name):
    ours, reference = twins
    inputs, tf_out, pt_out = _run_both(ours, reference, processor, CASES[name])
    assert isinstance(tf_out.pred_masks, tf.Tensor)
    assert tuple(tf_out.pred_masks.shape) == tuple(pt_out.pred_masks.shape)
    assert float(pt_out.pred_masks.max() - pt_out.pred_masks.min()) >= 1.0
    assert_outputs_close(tf_out.pred_masks, pt_out.pred_masks, name="pred_masks")
    assert_outputs_close(tf_out.iou_scores, pt_out.iou_scores, name="iou_scores")
    tf_masks = processor.post_process_masks(tf_out.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"])
    pt_masks = processor.post_process_masks(pt_out.pred_masks, inputs["original_sizes"].numpy(),
                                            inputs["reshaped_input_sizes"].numpy())
    for a, b in zip(tf_masks, pt_masks):
        assert isinstance(a, tf.Tensor)
        assert_masks_agree(a, b)


def test_ragged_prompts_within_an_image(twins, processor):
    ours, reference = twins
    case = dict(images=LANDSCAPE, input_points=[[[[100, 200]], [[300, 150], [320, 160], [50, 50]]]],
                input_labels=[[[1], [1, 0, 1]]])
    inputs, tf_out, pt_out = _run_both(ours, reference, processor, case)
    np.testing.assert_array_equal(inputs["input_labels"].numpy(), [[[1, -10, -10], [1, 0, 1]]])
    assert_outputs_close(tf_out.pred_masks, pt_out.pred_masks, name="pred_masks")


def test_input_masks_embedding_reuse_and_persam(twins, processor):
    ours, reference = twins
    inputs = processor(images=LANDSCAPE, input_points=[[[[100, 200]], [[400, 300]]]], return_tensors="np")
    tf_emb = ours.get_image_embeddings(inputs["pixel_values"])
    with torch.no_grad():
        pt_emb = reference.get_image_embeddings(torch.from_numpy(inputs["pixel_values"]))
    assert tuple(tf_emb.shape) == tuple(pt_emb.shape) == (1, 32, 64, 64)
    assert_outputs_close(tf_emb, pt_emb, name="image_embeddings")
    points = inputs["input_points"]
    first = ours(image_embeddings=tf_emb, input_points=points)
    prompt_mask = first.pred_masks[:, :1, 0].numpy()  # (B, 1, 256, 256)
    rng = np.random.default_rng(0)
    persam = dict(attention_similarity=rng.standard_normal((1, 1, 1, 64 * 64)).astype(np.float32),
                  target_embedding=rng.standard_normal((1, 1, 1, 32)).astype(np.float32))
    for kwargs in (dict(input_masks=prompt_mask), persam, {}):
        tf_out = ours(image_embeddings=tf_emb, input_points=points, **kwargs)
        with torch.no_grad():
            pt_out = reference(image_embeddings=pt_emb, input_points=torch.from_numpy(points), **torch_inputs(kwargs))
        assert_outputs_close(tf_out.pred_masks, pt_out.pred_masks, name=f"pred_masks {sorted(kwargs)}")
        assert_outputs_close(tf_out.iou_scores, pt_out.iou_scores, name=f"iou_scores {sorted(kwargs)}")
    full = ours(pixel_values=inputs["pixel_values"], input_points=points)
    reused = ours(image_embeddings=tf_emb, input_points=points)
    np.testing.assert_array_equal(full.pred_masks.numpy(), reused.pred_masks.numpy())


def test_prompt_embeddings_match(twins):
    ours, reference = twins
    points = np.array([[[[10.0, 20.0], [500.0, 300.0]]]], np.float32)
    labels = np.array([[[1, -10]]], np.int64)
    boxes = np.array([[[5.0, 6.0, 700.0, 800.0]]], np.float32)
    tf_sparse, tf_dense = ours.get_prompt_embeddings(points, labels, boxes)
    pt_sparse, pt_dense = reference.get_prompt_embeddings(*(torch.from_numpy(x) for x in (points, labels, boxes)))
    assert tuple(tf_dense.shape) == tuple(pt_dense.shape) == (1, 32, 64, 64)
    assert_outputs_close(tf_sparse, pt_sparse, name="sparse")
    assert_outputs_close(tf_dense, pt_dense, name="dense")


def test_attentions_and_hidden_states(twins, processor):
    ours, reference = twins
    inputs, tf_out, pt_out = _run_both(ours, reference, processor, dict(images=PORTRAIT, input_points=[[[[100, 200]]]]),
                                       output_attentions=True, output_hidden_states=True)
    for field in ("vision_attentions", "vision_hidden_states", "mask_decoder_attentions"):
        ours_field, ref_field = getattr(tf_out, field), getattr(pt_out, field)
        assert len(ours_field) == len(ref_field) > 0, field
        for a, b in zip(ours_field, ref_field):
            assert tuple(a.shape) == tuple(b.shape), field
            assert_outputs_close(a, b, name=field)
    as_tuple = ours(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    np.testing.assert_array_equal(as_tuple[1].numpy(), ours(**inputs).pred_masks.numpy())


def test_slimsam_shaped_config(processor):
    ours, reference, _ = make_tf_twins(_slimsam_shaped(), seed=5)
    _, tf_out, pt_out = _run_both(ours, reference, processor, CASES["rgba_points_and_boxes"])
    assert_outputs_close(tf_out.pred_masks, pt_out.pred_masks, name="pred_masks")
    assert_outputs_close(tf_out.iou_scores, pt_out.iou_scores, name="iou_scores")


@pytest.mark.slow
def test_vit_b_matches_torch(processor):
    ours, reference, _ = make_tf_twins(SamConfig.from_preset("sam-vit-base"), seed=7)
    for name in ("landscape_fg_bg_points", "rgba_points_and_boxes"):
        inputs, tf_out, pt_out = _run_both(ours, reference, processor, CASES[name])
        assert float(pt_out.pred_masks.max() - pt_out.pred_masks.min()) >= 1.0
        assert_outputs_close(tf_out.pred_masks, pt_out.pred_masks, name="pred_masks")
        assert_outputs_close(tf_out.iou_scores, pt_out.iou_scores, name="iou_scores")
        with torch.no_grad():
            pt_emb = reference.get_image_embeddings(torch.from_numpy(inputs["pixel_values"].numpy()))
        assert_outputs_close(ours.get_image_embeddings(inputs["pixel_values"]), pt_emb, name="embeddings")
