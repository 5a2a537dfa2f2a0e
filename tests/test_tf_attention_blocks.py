"""The image encoder's attention as computed for speed equals the plain computation, eagerly and under XLA: blocks
of queries vs the full (B, N, T, T) product, and windows projected from the real tokens vs zero-padded windows.

Shapes are odd on purpose: an 8x8 grid (T = 64 tokens) in blocks of at most 24 queries (three blocks of 21-22), a
10x10 grid in 4x4 windows (two padding rows and columns), batch 2, four heads, informative weights and
relative-position tables.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from sam_core.config import SamVisionConfig
from sam_tf.image_encoder import VisionAttention, chunked_attention, window_partition, window_unpartition
from tolerances import assert_outputs_close

#: Blocked vs full attention, relative to max(1, max|full|): the same per-row arithmetic, only fp32 summation order
#: (matmul blocking, XLA fusion) may differ.
BLOCKS_RTOL = 1e-5
GRID, CHUNK = 8, 24


def _attention(use_rel_pos: bool) -> VisionAttention:
    config = SamVisionConfig(hidden_size=32, num_attention_heads=4, image_size=GRID * 16, patch_size=16,
                             use_rel_pos=use_rel_pos, window_size=0)
    attn = VisionAttention(config, window_size=0, name="attn")
    attn.build()
    rng = np.random.default_rng(3)
    for weight in attn.weights:
        scale = 0.5 if "rel_pos" in weight.path else 0.2
        weight.assign(scale * rng.standard_normal(weight.shape).astype(np.float32))
    return attn


def _hidden() -> tf.Tensor:
    return tf.constant(np.random.default_rng(4).standard_normal((2, GRID, GRID, 32)).astype(np.float32))


@pytest.mark.parametrize("use_rel_pos", [True, False], ids=["rel_pos", "no_rel_pos"])
@pytest.mark.parametrize("jit_compile", [None, True], ids=["eager", "xla"])
def test_blocks_equal_the_full_attention(use_rel_pos, jit_compile):
    attn, hidden = _attention(use_rel_pos), _hidden()
    full, weights = attn(hidden, output_attentions=True)  # the explicit full computation
    assert tuple(weights.shape) == (2 * 4, GRID * GRID, GRID * GRID)
    attn.query_chunk_size = CHUNK
    blocked = attn(hidden) if jit_compile is None else tf.function(attn, jit_compile=True)(hidden)
    assert blocked[1] is None
    assert_outputs_close(blocked[0], full, rtol=BLOCKS_RTOL, name="blocked attention")
    attn.query_chunk_size = GRID * GRID  # one block: the full product
    assert_outputs_close(attn(hidden)[0], full, rtol=BLOCKS_RTOL, name="single block")


def test_chunked_attention_function_on_odd_shapes():
    rng = np.random.default_rng(5)
    query, key, value = (tf.constant(rng.standard_normal((2, 3, 35, 8)).astype(np.float32)) for _ in range(3))
    rel_h = tf.constant(rng.standard_normal((2, 3, 35, 5)).astype(np.float32))
    rel_w = tf.constant(rng.standard_normal((2, 3, 35, 7)).astype(np.float32))
    logits = np.einsum("bnqd,bnkd->bnqk", query.numpy(), key.numpy()).reshape(2, 3, 35, 5, 7)
    logits = (logits + rel_h.numpy()[..., :, None] + rel_w.numpy()[..., None, :]).reshape(2, 3, 35, 35)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    expected = (probs / probs.sum(-1, keepdims=True)) @ value.numpy()
    for chunk in (1, 6, 16, 34, 35, 100):
        assert_outputs_close(chunked_attention(query, key, value, rel_h, rel_w, chunk), expected,
                             rtol=BLOCKS_RTOL, name=f"chunk {chunk}")


@pytest.mark.parametrize("qkv_bias", [True, False], ids=["qkv_bias", "no_qkv_bias"])
def test_windowed_attention_equals_attention_on_zero_padded_windows(qkv_bias):
    """qkv on the real tokens with bias-filled padding and proj after unpartitioning == SAM's windowing: zero-pad
    the normed grid, partition, attend within each window, unpartition, crop."""
    grid, window = 10, 4  # padded to 12x12: nine windows, two padding rows and columns
    config = SamVisionConfig(hidden_size=32, num_attention_heads=4, image_size=grid * 16, patch_size=16,
                             window_size=window, qkv_bias=qkv_bias)
    attn = VisionAttention(config, window_size=window, name="attn")
    attn.build()
    rng = np.random.default_rng(6)
    for weight in attn.weights:
        weight.assign(0.3 * rng.standard_normal(weight.shape).astype(np.float32))
    attn.query_chunk_size = 7  # blocks inside each 16-token window too
    hidden = tf.constant(rng.standard_normal((2, grid, grid, 32)).astype(np.float32))
    windows, padded = window_partition(hidden, window)
    expected, expected_weights = attn._attend(attn.qkv(windows), output_attentions=True)
    expected = attn.proj(window_unpartition(expected, window, padded, (grid, grid)))
    for output_attentions in (False, True):
        output, weights = attn(hidden, output_attentions=output_attentions)
        assert_outputs_close(output, expected, rtol=BLOCKS_RTOL, name="windowed attention")
        if output_attentions:
            assert tuple(weights.shape) == (2 * 9 * 4, window * window, window * window)
            assert_outputs_close(weights, expected_weights, rtol=BLOCKS_RTOL, name="windowed weights")
    xla = tf.function(attn, jit_compile=True)(hidden)[0]
    assert_outputs_close(xla, expected, rtol=BLOCKS_RTOL, name="windowed attention under XLA")


def test_window_partition_fill_on_odd_shapes():
    hidden = np.random.default_rng(7).standard_normal((2, 5, 7, 3)).astype(np.float32)
    fill = np.array([1.5, -2.0, 0.25], np.float32)
    windows, padded = window_partition(tf.constant(hidden), 3, fill=tf.constant(fill))
    assert padded == (6, 9)
    expected = np.broadcast_to(fill, (2, 6, 9, 3)).copy()
    expected[:, :5, :7] = hidden
    expected = expected.reshape(2, 2, 3, 3, 3, 3).transpose(0, 1, 3, 2, 4, 5).reshape(-1, 3, 3, 3)
    np.testing.assert_array_equal(windows.numpy(), expected)
    np.testing.assert_array_equal(window_unpartition(windows, 3, padded, (5, 7)).numpy(), hidden)
