"""The image encoder's attention as computed for speed equals the plain computation, eagerly and under XLA: blocks
of queries vs the full (B, N, T, T) product.

Shapes are odd on purpose: an 8x8 grid (T = 64 tokens) in blocks of at most 24 queries (three blocks of 21-22),
batch 2, four heads, informative weights and relative-position tables.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from sam_core.config import SamVisionConfig
from sam_tf.image_encoder import VisionAttention, chunked_attention
from tests.helpers.attention_reference import random_attention_inputs, reference_attention
from tests.helpers.tolerances import assert_outputs_close

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
    arrays = random_attention_inputs(5, (2, 3, 35, 8), grid=(5, 7))
    expected = reference_attention(**arrays)
    tensors = {name: tf.constant(array) for name, array in arrays.items()}
    for chunk in (1, 6, 16, 34, 35, 100):
        assert_outputs_close(chunked_attention(chunk_size=chunk, **tensors), expected, rtol=BLOCKS_RTOL,
                             name=f"chunk {chunk}")
