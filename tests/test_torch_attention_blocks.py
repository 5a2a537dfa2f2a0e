"""The image encoder's attention as computed for speed equals the plain computation (PyTorch): SDPA over blocks of
queries with the relative-position bias as their additive mask vs the explicit (B, N, T, T) product, with and
without autograd (the reused bias buffer is used only outside it), and gradients equal through both.

Shapes are odd on purpose, as in the Keras test: an 8x8 grid (T = 64 tokens) in blocks of at most 24 queries
(24, 24, 16), batch 2, four heads, informative weights and relative-position tables.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core.config import SamVisionConfig
from sam_torch.image_encoder import VisionAttention, chunked_attention
from tests.helpers.attention_reference import random_attention_inputs, reference_attention
from tests.helpers.tolerances import assert_outputs_close

#: Blocked vs full attention, relative to max(1, max|full|): the same per-row arithmetic, only fp32 summation order
#: (matmul blocking, the fused kernel's online softmax) may differ.
BLOCKS_RTOL = 1e-5
GRID, CHUNK = 8, 24


def _attention(use_rel_pos: bool) -> VisionAttention:
    config = SamVisionConfig(hidden_size=32, num_attention_heads=4, image_size=GRID * 16, patch_size=16,
                             use_rel_pos=use_rel_pos, window_size=0)
    attn = VisionAttention(config, window_size=0)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in attn.named_parameters():
            scale = 0.5 if "rel_pos" in name else 0.2
            parameter.copy_(scale * torch.randn(parameter.shape, generator=generator))
    return attn


def _hidden() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(4).standard_normal((2, GRID, GRID, 32)).astype(np.float32))


@pytest.mark.parametrize("use_rel_pos", [True, False], ids=["rel_pos", "no_rel_pos"])
@pytest.mark.parametrize("grad", [False, True], ids=["inference", "autograd"])
def test_blocks_equal_the_full_attention(use_rel_pos, grad):
    attn, hidden = _attention(use_rel_pos), _hidden()
    with torch.no_grad():
        full, weights = attn(hidden, output_attentions=True)  # the explicit full computation
    assert tuple(weights.shape) == (2 * 4, GRID * GRID, GRID * GRID)
    attn.query_chunk_size = CHUNK
    with torch.set_grad_enabled(grad):
        blocked, none = attn(hidden)
    assert none is None and blocked.requires_grad == grad
    assert_outputs_close(blocked.detach(), full, rtol=BLOCKS_RTOL, name="blocked attention")
    for chunk, name in ((GRID * GRID, "one block per image"), (2 * GRID * GRID, "one block for both images")):
        attn.query_chunk_size = chunk
        with torch.no_grad():
            assert_outputs_close(attn(hidden)[0], full, rtol=BLOCKS_RTOL, name=name)


def test_gradients_through_blocks_equal_the_explicit_path():
    attn, hidden = _attention(use_rel_pos=True), _hidden().requires_grad_()
    attn.query_chunk_size = CHUNK
    cotangent = torch.from_numpy(np.random.default_rng(6).standard_normal((2, GRID, GRID, 32)).astype(np.float32))
    grads = []
    for output_attentions in (False, True):
        attn.zero_grad()
        hidden.grad = None
        (attn(hidden, output_attentions=output_attentions)[0] * cotangent).sum().backward()
        grads.append([hidden.grad.clone(), attn.rel_pos_h.grad.clone(), attn.qkv.weight.grad.clone()])
    for blocked, explicit, name in zip(*grads, ("hidden", "rel_pos_h", "qkv.weight")):
        assert float(explicit.abs().max()) > 0.1  # informative
        assert_outputs_close(blocked, explicit, rtol=BLOCKS_RTOL, name=f"grad of {name}")


def test_chunked_attention_function_on_odd_shapes():
    arrays = random_attention_inputs(5, (2, 3, 35, 8), grid=(5, 7))
    expected = reference_attention(**arrays)
    tensors = {name: torch.from_numpy(array) for name, array in arrays.items()}
    with torch.no_grad():
        for chunk in (1, 6, 16, 34, 35, 69, 70, 100):
            assert_outputs_close(chunked_attention(chunk_size=chunk, **tensors), expected, rtol=BLOCKS_RTOL,
                                 name=f"chunk {chunk}")
