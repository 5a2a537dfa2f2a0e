"""Decomposed relative-position attention terms of the SAM image encoder (MViTv2 style), TensorFlow.

Shape legend: B batch*heads (or batch, heads as leading dims), H/W query grid, T = H*W tokens, Q queries (T or a
block of them), D head dim.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def get_rel_pos(q_size: int, k_size: int, rel_pos: tf.Tensor) -> tf.Tensor:
    """Relative-position embeddings for every (query, key) offset along one axis.

    Args:
        q_size: query length along the axis.
        k_size: key length along the axis.
        rel_pos: (L, D) learned table; linearly resized when L != 2*max(q_size, k_size) - 1.

    Returns:
        (q_size, k_size, D) embeddings.
    """
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != max_rel_dist:
        # half-pixel bilinear without antialias along one axis == torch's linear interpolate, align_corners=False
        resized = tf.image.resize(rel_pos[None, :, None, :], (max_rel_dist, 1), method="bilinear", antialias=False)
        rel_pos = tf.reshape(resized, (max_rel_dist, -1))
    q_coords = np.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = np.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    relative_coords = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return tf.gather(rel_pos, relative_coords.astype(np.int64))


def decomposed_rel_terms(
    query: tf.Tensor, rel_pos_h: tf.Tensor, rel_pos_w: tf.Tensor, size: tuple[int, int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """The height and width parts of the relative-position logits.

    The full additive term for query (qh, qw) and key (kh, kw) is ``rel_h[..., qh, qw, kh] + rel_w[..., qh, qw, kw]``.

    Args:
        query: (B, N, T, D) unscaled queries, T = H*W.
        rel_pos_h: (2H-1, D) table for the height axis.
        rel_pos_w: (2W-1, D) table for the width axis.
        size: (H, W).

    Returns:
        rel_h (B, N, T, H) and rel_w (B, N, T, W), in the tables' dtype: float32 in the bf16 mode, where bfloat16
        queries are cast up (sam_tf.precision).
    """
    height, width = size
    table_h = get_rel_pos(height, height, rel_pos_h)
    table_w = get_rel_pos(width, width, rel_pos_w)
    query = tf.cast(query, table_h.dtype)
    leading = tf.shape(query)[:2]
    grid = tf.reshape(query, tf.concat([leading, [height, width, query.shape[-1]]], axis=0))
    rel_h = tf.einsum("bnhwc,hkc->bnhwk", grid, table_h)
    rel_w = tf.einsum("bnhwc,wkc->bnhwk", grid, table_w)
    tokens = height * width
    return (
        tf.reshape(rel_h, tf.concat([leading, [tokens, height]], axis=0)),
        tf.reshape(rel_w, tf.concat([leading, [tokens, width]], axis=0)),
    )


def add_rel_pos_bias(logits: tf.Tensor, rel_h: tf.Tensor, rel_w: tf.Tensor) -> tf.Tensor:
    """``logits + bias`` where bias[..., q, kh*W + kw] = rel_h[..., q, kh] + rel_w[..., q, kw].

    The bias of the given queries is built as one (..., Q, H, W) outer sum viewed as (..., Q, T) and added with a
    same-shape add: pass a block of queries (Q rows of logits, rel_h and rel_w) to keep it small. Under XLA this
    form fuses into the softmax that follows; adding rel_h and rel_w to a reshaped (..., Q, H, W) view of the
    logits and reshaping back made one global ViT-B attention 1.7x slower there (bias and softmax: 2.7x).
    ``logits + (rel_h + rel_w)`` and ``(logits + rel_h) + rel_w`` differ by fp32 round-off only.

    Args:
        logits: (B, N, Q, T).
        rel_h: (B, N, Q, H); rel_w: (B, N, Q, W).
    """
    bias = rel_h[..., :, None] + rel_w[..., None, :]
    return logits + tf.reshape(bias, tf.shape(logits))
