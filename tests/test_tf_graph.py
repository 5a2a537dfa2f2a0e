"""TFSamModel eagerly, under tf.function and under XLA (jit_compile=True): the same results (max|Δ| <= 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from sam_core import SamConfig
from tests.helpers.sam_weights import TINY_DECODER, TINY_PROMPT, TINY_VISION
from tests.helpers.tf_twins import make_tf_twins
from tests.helpers.tolerances import assert_outputs_close

#: Eager vs traced / XLA-compiled runs of the same Keras model, relative to max(1, max|eager|): only op fusion
#: (grappler / oneDNN / XLA) and fp32 accumulation order differ.
GRAPH_RTOL = 1e-5


@pytest.fixture(scope="module")
def model():
    # SAM's own mask_input_channels (16): the tiny config's 8 leaves mask_embed.layer_norm1 two channels, a layer
    # norm so ill-conditioned that fusion-order rounding grows to ~1e-4 there.
    config = SamConfig(
        vision_config=TINY_VISION,
        prompt_encoder_config={**TINY_PROMPT, "mask_input_channels": 16},
        mask_decoder_config=TINY_DECODER,
    )
    return make_tf_twins(config, seed=1)[0]


@pytest.fixture(scope="module")
def inputs(model):
    rng = np.random.default_rng(0)
    inputs = dict(
        pixel_values=tf.constant(rng.standard_normal((2, 3, 1024, 1024)), tf.float32),
        input_points=tf.constant([[[[300.0, 500.0], [10.0, 900.0]]], [[[700.0, 200.0], [0.0, 0.0]]]]),
        input_labels=tf.constant([[[1, 0]], [[1, -10]]], tf.int32),
        input_boxes=tf.constant([[[100.0, 200.0, 700.0, 900.0]], [[50.0, 60.0, 400.0, 300.0]]]),
    )
    # Mask prompts as in use: an earlier prediction's logits.
    inputs["input_masks"] = model(**inputs).pred_masks[:, 0, :1]
    return inputs


def _forward(model):
    def run(pixel_values, input_points, input_labels, input_boxes, input_masks):
        out = model(
            pixel_values=pixel_values,
            input_points=input_points,
            input_labels=input_labels,
            input_boxes=input_boxes,
            input_masks=input_masks,
            output_attentions=True,
        )
        return out.pred_masks, out.iou_scores, out.mask_decoder_attentions

    return run


@pytest.mark.parametrize("jit_compile", [False, True], ids=["tf_function", "xla"])
def test_traced_equals_eager(model, inputs, jit_compile):
    eager = _forward(model)(**inputs)
    traced = tf.function(_forward(model), jit_compile=jit_compile)(**inputs)
    for a, b in zip(tf.nest.flatten(eager), tf.nest.flatten(traced)):
        assert a.shape == b.shape
        assert_outputs_close(b, a, rtol=GRAPH_RTOL, name=f"jit_compile={jit_compile}")


def test_xla_encoder_and_dynamic_batch(model, inputs):
    encode = tf.function(
        model.get_image_embeddings, jit_compile=True, input_signature=[tf.TensorSpec((None, 3, 1024, 1024), tf.float32)]
    )
    assert_outputs_close(
        encode(inputs["pixel_values"]),
        model.get_image_embeddings(inputs["pixel_values"]),
        rtol=GRAPH_RTOL,
        name="xla embeddings",
    )
    single = encode(inputs["pixel_values"][:1])
    assert tuple(single.shape) == (1, 32, 64, 64)


def test_return_dict_false_inside_tf_function(model, inputs):
    run = tf.function(lambda px: model(pixel_values=px, input_points=inputs["input_points"], return_dict=False))
    iou, masks = run(inputs["pixel_values"])
    assert tuple(masks.shape) == (2, 1, 3, 256, 256) and tuple(iou.shape) == (2, 1, 3)


def test_backend_decoder_graph_equals_eager(model, monkeypatch):
    """ModelBackend.decode runs a kind of call eagerly EAGER_CALLS times, then as one traced graph for every prompt and
    point count, on slices of the prompts: the same outputs as one eager model call on all of them."""
    import sam_core.backend as core_backend
    from sam_tf import backend

    monkeypatch.setattr(backend, "EAGER_CALLS", 1)
    monkeypatch.setattr(core_backend, "DECODE_SLICE_BYTES", 1)  # one prompt a call
    decoder = model.prediction_backend()
    rng = np.random.default_rng(2)
    embeddings = decoder.embed(rng.standard_normal((1, 3, 1024, 1024)).astype(np.float32))
    for prompts, points in ((3, 1), (4, 2), (2, 3)):
        coords = rng.uniform(0, 1024, (1, prompts, points, 2))
        labels = rng.integers(0, 2, (1, prompts, points))
        logits, iou = decoder.decode(embeddings, points=coords, labels=labels)
        expected = model(image_embeddings=embeddings, input_points=coords.astype(np.float32),
                         input_labels=labels.astype(np.int32))  # fmt: skip
        assert_outputs_close(logits, expected.pred_masks.numpy(), rtol=GRAPH_RTOL, name="pred_masks")
        assert_outputs_close(iou, expected.iou_scores.numpy(), rtol=GRAPH_RTOL, name="iou_scores")
    assert len(backend.ModelGraphs.of(model)._graphs) == 1


def test_backend_encoder_graph_equals_eager(monkeypatch):
    """ModelBackend.embed runs the image encoder eagerly ENCODER_EAGER_CALLS times, then as one traced graph for any
    batch size: the same embeddings as the eager call (the default model: a small trace)."""
    from dualsam.models import load_model
    from sam_tf import backend

    monkeypatch.setattr(backend, "ENCODER_EAGER_CALLS", 1)
    model = load_model(None, "tf").model
    encoder = backend.ModelBackend(model)
    rng = np.random.default_rng(3)
    for batch in (1, 1, 2):  # eager, traced, traced again at another batch size
        pixels = rng.standard_normal((batch, 3, encoder.image_size, encoder.image_size)).astype(np.float32)
        expected = model.get_image_embeddings(pixels).numpy()
        assert_outputs_close(encoder.embed(pixels), expected, rtol=GRAPH_RTOL, name="image_embeddings")
    graphs = backend.ModelGraphs.of(model)
    assert ("encoder",) in graphs._graphs and graphs._calls[("encoder",)] == 2
