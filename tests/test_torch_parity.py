"""Parity of sam_torch.SamModel + sam_core.SamProcessor with transformers 4.x SamModel/SamProcessor,
on the same informative random weights (a tiny config by default, ViT-B under the slow marker)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")

from sam_core import SamConfig, SamImageProcessor, SamProcessor  # noqa: E402
from tests.helpers.images import synthetic_image  # noqa: E402
from tests.helpers.sam_weights import tiny_config  # noqa: E402
from tests.helpers.tolerances import PIXEL_ATOL, assert_masks_agree, assert_outputs_close, max_abs_diff  # noqa: E402
from tests.helpers.twins import make_twins  # noqa: E402

LANDSCAPE = synthetic_image(480, 640, seed=1)
PORTRAIT = synthetic_image(640, 360, seed=2)
# transformers cannot tell a 2-D numpy image from a batch, so the grayscale case is a PIL "L" image.
GRAY = Image.fromarray(synthetic_image(300, 420, seed=3, channels=1), mode="L")
RGBA = Image.fromarray(synthetic_image(400, 300, seed=4, channels=4), mode="RGBA")

CASES = {
    "landscape_fg_bg_points": dict(images=LANDSCAPE, input_points=[[[[100, 200], [300, 150], [500, 400]]]],
                                   input_labels=[[[1, 0, 1]]]),
    "portrait_point": dict(images=PORTRAIT, input_points=[[[[180, 500]]]]),
    "grayscale_box": dict(images=GRAY, input_boxes=[[[40, 30, 380, 260]]]),
    "rgba_points_and_boxes": dict(images=RGBA, input_points=[[[[120, 200]], [[200, 100]]]],
                                  input_boxes=[[[50, 60, 250, 350], [100, 20, 280, 200]]]),
    # [image][point][2] nesting, one point fewer in the first image (what transformers can pad)
    "ragged_points": dict(images=[LANDSCAPE, PORTRAIT], input_points=[[[100, 200]], [[300, 150], [320, 160]]],
                          input_labels=[[1], [1, 0]]),
    "several_prompts": dict(images=PORTRAIT, input_points=[[[[50, 60]], [[180, 320]], [[300, 600]]]]),
    "two_images_two_sizes": dict(images=[LANDSCAPE, PORTRAIT], input_points=[[[[100, 100]]], [[[200, 300]]]]),
    "single_mask": dict(images=LANDSCAPE, input_points=[[[[320, 240]]]], multimask_output=False),
}


@pytest.fixture(scope="module")
def twins():
    ours, reference, _ = make_twins(tiny_config(), seed=0)
    return ours, reference


@pytest.fixture(scope="module")
def processors():
    return SamProcessor(SamImageProcessor()), transformers.SamProcessor(
        transformers.SamImageProcessor()
    )


def _run(model, processor, case: dict, return_tensors: str = "pt"):
    case = dict(case)
    multimask = case.pop("multimask_output", True)
    inputs = processor(**case, return_tensors=return_tensors)
    with torch.no_grad():
        outputs = model(**inputs, multimask_output=multimask)
    return inputs, outputs


@pytest.mark.parametrize("name", sorted(CASES))
def test_processor_and_model_match_transformers(twins, processors, name):
    ours, reference = twins
    our_processor, hf_processor = processors
    our_inputs, our_out = _run(ours, our_processor, CASES[name])
    hf_inputs, hf_out = _run(reference, hf_processor, CASES[name])

    assert max_abs_diff(our_inputs["pixel_values"], hf_inputs["pixel_values"]) <= PIXEL_ATOL
    for key in ("original_sizes", "reshaped_input_sizes", "input_labels", "input_boxes"):
        if key in hf_inputs:
            np.testing.assert_allclose(np.asarray(our_inputs[key]), np.asarray(hf_inputs[key]), atol=1e-5, err_msg=key)
    if "input_points" in hf_inputs:
        # Padding points are (0, 0) here and (-10, -10) in transformers; label -10 makes the model ignore them.
        real = np.asarray(hf_inputs["input_labels"]) != -10 if "input_labels" in hf_inputs else Ellipsis
        ours_points, hf_points = np.asarray(our_inputs["input_points"]), np.asarray(hf_inputs["input_points"])
        np.testing.assert_allclose(ours_points[real], hf_points[real], atol=1e-5)

    span = float(hf_out.pred_masks.max() - hf_out.pred_masks.min())
    assert span >= 1.0, f"reference logits span only {span}: the weights are not informative"
    assert our_out.pred_masks.shape == hf_out.pred_masks.shape
    assert_outputs_close(our_out.pred_masks, hf_out.pred_masks, name="pred_masks")
    assert_outputs_close(our_out.iou_scores, hf_out.iou_scores, name="iou_scores")

    our_masks = our_processor.post_process_masks(
        our_out.pred_masks, our_inputs["original_sizes"], our_inputs["reshaped_input_sizes"]
    )
    hf_masks = hf_processor.post_process_masks(
        hf_out.pred_masks, hf_inputs["original_sizes"], hf_inputs["reshaped_input_sizes"]
    )
    assert len(our_masks) == len(hf_masks)
    for a, b in zip(our_masks, hf_masks):
        assert isinstance(a, torch.Tensor)
        assert_masks_agree(a, b)


def test_ragged_prompts_within_an_image(twins, processors):
    """transformers' processor pads ragged point lists only across images; ours also pads prompts of one image.
    The padded batch must give the reference model's outputs on the same tensors."""
    ours, reference = twins
    inputs = processors[0](images=LANDSCAPE, input_points=[[[[100, 200]], [[300, 150], [320, 160], [50, 50]]]],
                           input_labels=[[[1], [1, 0, 1]]], return_tensors="pt")
    np.testing.assert_array_equal(inputs["input_labels"].numpy(), [[[1, -10, -10], [1, 0, 1]]])
    np.testing.assert_array_equal(inputs["input_points"][0, 0, 1:].numpy(), 0.0)
    with torch.no_grad():
        our_out, ref_out = ours(**inputs), reference(**inputs)
    assert_outputs_close(our_out.pred_masks, ref_out.pred_masks, name="pred_masks")
    # Note: a -10 token has a zero embedding but still takes part in attention (as in transformers), so a
    # padded prompt is not bit-equal to the same prompt alone.


def test_input_masks_embedding_reuse_and_persam(twins, processors):
    ours, reference = twins
    our_processor, _ = processors
    inputs = our_processor(images=LANDSCAPE, input_points=[[[[100, 200]], [[400, 300]]]], return_tensors="pt")
    with torch.no_grad():
        our_emb = ours.get_image_embeddings(inputs["pixel_values"])
        ref_emb = reference.get_image_embeddings(inputs["pixel_values"])
        assert_outputs_close(our_emb, ref_emb, name="image_embeddings")
        first = reference(image_embeddings=ref_emb, input_points=inputs["input_points"])
        prompt_mask = first.pred_masks[:, :1, 0]  # (B, 1, 256, 256) from the first prompt
        grid = ref_emb.shape[-1] ** 2
        generator = torch.Generator().manual_seed(0)
        persam = dict(
            attention_similarity=torch.randn(1, 1, 1, grid, generator=generator),
            target_embedding=torch.randn(1, 1, 1, ref_emb.shape[1], generator=generator),
        )
        for kwargs in (dict(input_masks=prompt_mask), persam, {}):
            ref_out = reference(image_embeddings=ref_emb, input_points=inputs["input_points"], **kwargs)
            our_out = ours(image_embeddings=our_emb, input_points=inputs["input_points"], **kwargs)
            assert_outputs_close(our_out.pred_masks, ref_out.pred_masks, name=f"pred_masks {sorted(kwargs)}")
            assert_outputs_close(our_out.iou_scores, ref_out.iou_scores, name=f"iou_scores {sorted(kwargs)}")
        # embeddings reuse gives what the full forward gives
        full = ours(pixel_values=inputs["pixel_values"], input_points=inputs["input_points"])
        reused = ours(image_embeddings=our_emb, input_points=inputs["input_points"])
        assert torch.equal(full.pred_masks, reused.pred_masks)


def test_attentions_and_hidden_states(twins, processors):
    ours, sdpa_reference = twins
    # transformers picks the vision attention class at construction and its SDPA class returns no weights:
    # build an eager twin.
    reference = transformers.SamModel._from_config(sdpa_reference.config, attn_implementation="eager").eval()
    reference.load_state_dict(sdpa_reference.state_dict())
    inputs = processors[0](images=PORTRAIT, input_points=[[[[100, 200]]]], return_tensors="pt")
    with torch.no_grad():
        ref_out = reference(**inputs, output_attentions=True, output_hidden_states=True)
        our_out = ours(**inputs, output_attentions=True, output_hidden_states=True)
    recorded = ref_out.vision_attentions
    assert len(our_out.vision_attentions) == len(recorded) == ours.config.vision_config.num_hidden_layers
    for a, b in zip(our_out.vision_attentions, recorded):
        assert_outputs_close(a, b, name="vision_attentions")
        np.testing.assert_allclose(a.sum(-1).numpy(), 1.0, atol=1e-5)
    assert len(our_out.vision_hidden_states) == len(ref_out.vision_hidden_states)
    for a, b in zip(our_out.vision_hidden_states, ref_out.vision_hidden_states):
        assert_outputs_close(a, b, name="vision_hidden_states")
    assert len(our_out.mask_decoder_attentions) == len(ref_out.mask_decoder_attentions)
    for a, b in zip(our_out.mask_decoder_attentions, ref_out.mask_decoder_attentions):
        assert_outputs_close(a, b, name="mask_decoder_attentions")
    assert_outputs_close(our_out.pred_masks, ref_out.pred_masks, name="pred_masks")
    as_tuple = ours(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    assert torch.equal(as_tuple[1], ours(**inputs).pred_masks)


def _slimsam_shaped() -> SamConfig:
    # SlimSAM's pruned widths (hidden 168, mlp_dim 696) with the depth cut to 2 layers to keep the suite fast.
    base = SamConfig.from_preset("slimsam-77").vision_config.to_dict()
    return tiny_config(hidden_size=base["hidden_size"], mlp_dim=base["mlp_dim"],
                       num_attention_heads=base["num_attention_heads"], output_channels=32)


def test_slimsam_shaped_config(processors):
    ours, reference, _ = make_twins(_slimsam_shaped(), seed=5)
    case = CASES["rgba_points_and_boxes"]
    our_inputs, our_out = _run(ours, processors[0], case)
    _, hf_out = _run(reference, processors[1], case)
    assert_outputs_close(our_out.pred_masks, hf_out.pred_masks, name="pred_masks")
    assert_outputs_close(our_out.iou_scores, hf_out.iou_scores, name="iou_scores")


@pytest.mark.slow
def test_vit_b_matches_transformers(processors):
    ours, reference, _ = make_twins(SamConfig.from_preset("sam-vit-base"), seed=7)
    for name in ("landscape_fg_bg_points", "rgba_points_and_boxes"):
        our_inputs, our_out = _run(ours, processors[0], CASES[name])
        hf_inputs, hf_out = _run(reference, processors[1], CASES[name])
        assert float(hf_out.pred_masks.max() - hf_out.pred_masks.min()) >= 1.0
        assert_outputs_close(our_out.pred_masks, hf_out.pred_masks, name="pred_masks")
        assert_outputs_close(our_out.iou_scores, hf_out.iou_scores, name="iou_scores")
        with torch.no_grad():
            assert_outputs_close(ours.get_image_embeddings(our_inputs["pixel_values"]),
                                 reference.get_image_embeddings(hf_inputs["pixel_values"]), name="embeddings")
