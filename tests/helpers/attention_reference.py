"""A numpy reference of the image encoder's relative-position attention, for the blocked-attention tests of both
backends.

Shape legend: B batch, N heads, Q = T = H*W tokens, D head dim.
"""

from __future__ import annotations

import numpy as np


def random_attention_inputs(
    seed: int, shape: tuple[int, int, int, int], grid: tuple[int, int]
) -> dict[str, np.ndarray]:
    """query, key, value (B, N, T, D) and rel_h (B, N, T, H), rel_w (B, N, T, W), standard normal float32."""
    rng = np.random.default_rng(seed)
    batch, heads, tokens, _ = shape
    arrays = {name: rng.standard_normal(shape).astype(np.float32) for name in ("query", "key", "value")}
    arrays["rel_h"] = rng.standard_normal((batch, heads, tokens, grid[0])).astype(np.float32)
    arrays["rel_w"] = rng.standard_normal((batch, heads, tokens, grid[1])).astype(np.float32)
    return arrays


def reference_attention(
    query: np.ndarray, key: np.ndarray, value: np.ndarray, rel_h: np.ndarray, rel_w: np.ndarray
) -> np.ndarray:
    """softmax(query key^T + rel_h[q, kh] + rel_w[q, kw]) value in float64, for (already scaled) queries."""
    batch, heads, tokens, _ = query.shape
    height, width = rel_h.shape[-1], rel_w.shape[-1]
    logits = np.einsum("bnqd,bnkd->bnqk", query.astype(np.float64), key.astype(np.float64))
    logits = logits.reshape(batch, heads, tokens, height, width) + rel_h[..., :, None] + rel_w[..., None, :]
    logits = logits.reshape(batch, heads, tokens, height * width)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return (probs / probs.sum(-1, keepdims=True)) @ value.astype(np.float64)
