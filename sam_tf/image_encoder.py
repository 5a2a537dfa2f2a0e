"""The SAM image encoder: a windowed ViT with decomposed relative positions and a conv neck (Keras 3, NHWC).

Shape legend: B batch, C hidden size, H/W token grid (image_size / patch_size), T tokens, N heads, D head dim,
Q queries (T or a block of them).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from sam_core.config import SamVisionConfig
from sam_core.model_inputs import check_pixel_values_shape

from .layers import LayerNorm2d, MLPBlock, SamLayer
from .relative_position import add_rel_pos_bias, decomposed_rel_terms

#: Most queries per block in attention without output_attentions: a block's (B, N, Q, T) logits stay small instead
#: of streaming (B, N, T, T) tensors (805 MB per global ViT-B layer) through memory. Medians for one global ViT-B
#: attention (T = 4096, 12 heads), 1 thread, full product -> 128: eager 943 -> 836 ms (64: 852, 256: 919), graph
#: 863 -> 802 ms; XLA 911 -> 1005 ms (256: 967, 512: 944), as XLA schedules every block's logits before any softmax.
QUERY_CHUNK_SIZE = 128


def attention_probs(query: tf.Tensor, key: tf.Tensor, rel_h: tf.Tensor | None, rel_w: tf.Tensor | None) -> tf.Tensor:
    """softmax(query key^T + relative-position bias) of some queries against all keys.

    Args:
        query: (B, N, Q, D), already scaled.
        key: (B, N, T, D).
        rel_h: (B, N, Q, H) and rel_w (B, N, Q, W) terms of these queries, or both None.

    Returns:
        (B, N, Q, T) float32 weights (in the bf16 mode the bfloat16 logits are cast up before the bias and softmax).
    """
    logits = tf.cast(tf.matmul(query, key, transpose_b=True), tf.float32)
    if rel_h is not None:
        logits = add_rel_pos_bias(logits, rel_h, rel_w)
    return tf.nn.softmax(logits, axis=-1)


def chunked_attention(
    query: tf.Tensor,
    key: tf.Tensor,
    value: tf.Tensor,
    rel_h: tf.Tensor | None,
    rel_w: tf.Tensor | None,
    chunk_size: int,
) -> tf.Tensor:
    """softmax(query key^T + bias) value, computed for blocks of at most chunk_size queries (static, near-equal
    blocks): each query's row is computed exactly as in the full product, without the (B, N, T, T) tensors.

    Args:
        query: (B, N, T, D), already scaled; key, value: (B, N, T, D).
        rel_h: (B, N, T, H) and rel_w (B, N, T, W), or both None.
        chunk_size: the most queries per block.

    Returns:
        (B, N, T, D).
    """
    tokens = query.shape[2]
    count = -(-tokens // chunk_size)
    sizes = [tokens * (i + 1) // count - tokens * i // count for i in range(count)]
    if count == 1:
        return tf.matmul(tf.cast(attention_probs(query, key, rel_h, rel_w), value.dtype), value)
    queries = tf.split(query, sizes, axis=2)
    rel_hs = tf.split(rel_h, sizes, axis=2) if rel_h is not None else [None] * count
    rel_ws = tf.split(rel_w, sizes, axis=2) if rel_w is not None else [None] * count
    blocks = [tf.matmul(tf.cast(attention_probs(q, key, h, w), value.dtype), value)
              for q, h, w in zip(queries, rel_hs, rel_ws)]  # fmt: skip
    return tf.concat(blocks, axis=2)


@keras.saving.register_keras_serializable(package="dualsam")
class PatchEmbeddings(SamLayer):
    """Non-overlapping patch projection: (B, 3, S, S) -> (B, S/p, S/p, C) channels-last tokens."""

    def __init__(self, config: SamVisionConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.image_size = config.image_size
        self.num_channels = config.num_channels
        self.projection = keras.layers.Conv2D(
            config.hidden_size, kernel_size=config.patch_size, strides=config.patch_size, name="projection"
        )

    def build(self, input_shape: tuple | None = None) -> None:
        self.projection.build((None, self.image_size, self.image_size, self.num_channels))

    def call(self, pixel_values: tf.Tensor) -> tf.Tensor:
        check_pixel_values_shape(tuple(pixel_values.shape), self.image_size, self.num_channels)
        return tf.cast(self.projection(tf.transpose(pixel_values, (0, 2, 3, 1))), self.compute_dtype)

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config)


@keras.saving.register_keras_serializable(package="dualsam")
class VisionAttention(SamLayer):
    """Multi-head self-attention with decomposed relative-position terms.

    Args:
        config: the vision config.
        window_size: side of the attention window, or 0 for global attention over the whole grid.
    """

    def __init__(self, config: SamVisionConfig, window_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config, self.window_size = config, window_size
        grid = config.grid_size
        self.side = window_size if window_size > 0 else grid
        self.num_attention_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scale = self.head_dim**-0.5
        self.qkv = keras.layers.Dense(config.hidden_size * 3, use_bias=config.qkv_bias, name="qkv")
        self.proj = keras.layers.Dense(config.hidden_size, name="proj")
        self.use_rel_pos = config.use_rel_pos
        self.query_chunk_size = QUERY_CHUNK_SIZE  # not a config key: it changes speed, not results

    def build(self, input_shape: tuple | None = None) -> None:
        self.qkv.build((None, self.config.hidden_size))
        self.proj.build((None, self.config.hidden_size))
        if self.use_rel_pos:
            shape = (2 * self.side - 1, self.head_dim)
            self.rel_pos_h = self.add_weight(shape=shape, initializer="zeros", name="rel_pos_h")
            self.rel_pos_w = self.add_weight(shape=shape, initializer="zeros", name="rel_pos_w")

    def call(self, hidden_states: tf.Tensor, output_attentions: bool = False) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(B, H, W, C) -> (B, H, W, C), plus the (B*N, T, T) softmax weights when output_attentions."""
        batch = tf.shape(hidden_states)[0]
        _, height, width, channels = hidden_states.shape
        tokens = height * width
        qkv = tf.reshape(self.qkv(hidden_states), (batch, tokens, 3, self.num_attention_heads, self.head_dim))
        query, key, value = tf.unstack(tf.transpose(qkv, (2, 0, 3, 1, 4)), axis=0)  # (B, N, T, D) each
        rel_h = rel_w = None
        if self.use_rel_pos:
            rel_h, rel_w = decomposed_rel_terms(query, self.rel_pos_h, self.rel_pos_w, (height, width))
        query = query * self.scale
        weights = None
        if output_attentions:
            probs = attention_probs(query, key, rel_h, rel_w)
            output = tf.matmul(tf.cast(probs, value.dtype), value)
            weights = tf.reshape(probs, (-1, tokens, tokens))
        else:
            output = chunked_attention(query, key, value, rel_h, rel_w, self.query_chunk_size)
        output = tf.reshape(tf.transpose(output, (0, 2, 1, 3)), (batch, height, width, channels))
        return tf.cast(self.proj(output), self.compute_dtype), weights  # bf16 mode: back to the float32 stream

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config, window_size=self.window_size)


def window_partition(hidden_states: tf.Tensor, window_size: int) -> tuple[tf.Tensor, tuple[int, int]]:
    """Zero-pads (B, H, W, C) to multiples of window_size and cuts it into (B*nW, ws, ws, C) windows.

    Returns:
        The windows and the padded (H', W').
    """
    _, height, width, channels = hidden_states.shape
    pad_h = (window_size - height % window_size) % window_size
    pad_w = (window_size - width % window_size) % window_size
    hidden_states = tf.pad(hidden_states, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    padded_h, padded_w = height + pad_h, width + pad_w
    # (B*nH, ws, nW, ws*C) -> (B*nH, nW, ws, ws*C): the rank-6 reshape/transpose of sam_torch in rank 4, which
    # LiteRT's converter lowers (it fuses a rank-6 form into a batch matmul it then rejects); the same numbers.
    rows = tf.reshape(hidden_states, (-1, window_size, padded_w // window_size, window_size * channels))
    windows = tf.transpose(rows, (0, 2, 1, 3))
    return tf.reshape(windows, (-1, window_size, window_size, channels)), (padded_h, padded_w)


def window_unpartition(
    windows: tf.Tensor, window_size: int, padded_size: tuple[int, int], size: tuple[int, int]
) -> tf.Tensor:
    """Inverse of window_partition: (B*nW, ws, ws, C) -> (B, H, W, C) without the padding."""
    padded_h, padded_w = padded_size
    channels = windows.shape[-1]
    rows = tf.reshape(windows, (-1, padded_w // window_size, window_size, window_size * channels))  # see above
    hidden_states = tf.reshape(tf.transpose(rows, (0, 2, 1, 3)), (-1, padded_h, padded_w, channels))
    return hidden_states[:, : size[0], : size[1], :]


@keras.saving.register_keras_serializable(package="dualsam")
class VisionLayer(SamLayer):
    """Pre-norm transformer block, windowed (window_size > 0) or global (window_size == 0)."""

    def __init__(self, config: SamVisionConfig, window_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.layer_norm1 = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="layer_norm1")
        self.attn = VisionAttention(config, window_size, name="attn")
        self.layer_norm2 = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="layer_norm2")
        self.mlp = MLPBlock(
            hidden_size=config.hidden_size, mlp_dim=config.mlp_dim, hidden_act=config.hidden_act, name="mlp"
        )
        self.window_size = window_size

    def build(self, input_shape: tuple | None = None) -> None:
        width = (None, self.config.hidden_size)
        self.layer_norm1.build(width)
        self.attn.build()
        self.layer_norm2.build(width)
        self.mlp.build()

    def call(self, hidden_states: tf.Tensor, output_attentions: bool = False) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(B, H, W, C) -> (B, H, W, C) and the attention weights (or None)."""
        residual = hidden_states
        hidden_states = self.layer_norm1(hidden_states)
        if self.window_size > 0:
            size = (hidden_states.shape[1], hidden_states.shape[2])
            hidden_states, padded_size = window_partition(hidden_states, self.window_size)
        hidden_states, weights = self.attn(hidden_states, output_attentions=output_attentions)
        if self.window_size > 0:
            hidden_states = window_unpartition(hidden_states, self.window_size, padded_size, size)
        hidden_states = residual + hidden_states
        hidden_states = hidden_states + self.mlp(self.layer_norm2(hidden_states))
        return hidden_states, weights

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config, window_size=self.window_size)


@keras.saving.register_keras_serializable(package="dualsam")
class VisionNeck(SamLayer):
    """1x1 conv, layer norm, 3x3 conv, layer norm: (B, H, W, C) -> (B, H, W, output_channels)."""

    def __init__(self, config: SamVisionConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.conv1 = keras.layers.Conv2D(config.output_channels, kernel_size=1, use_bias=False, name="conv1")
        self.layer_norm1 = LayerNorm2d(config.output_channels, name="layer_norm1")
        self.conv2 = keras.layers.Conv2D(
            config.output_channels, kernel_size=3, padding="same", use_bias=False, name="conv2"
        )
        self.layer_norm2 = LayerNorm2d(config.output_channels, name="layer_norm2")

    def build(self, input_shape: tuple | None = None) -> None:
        self.conv1.build((None, None, None, self.config.hidden_size))
        self.layer_norm1.build()
        self.conv2.build((None, None, None, self.config.output_channels))
        self.layer_norm2.build()

    def call(self, hidden_states: tf.Tensor) -> tf.Tensor:
        hidden_states = self.layer_norm1(self.conv1(hidden_states))
        return self.layer_norm2(self.conv2(hidden_states))

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config)


@keras.saving.register_keras_serializable(package="dualsam")
class VisionEncoder(SamLayer):
    """Patch embedding, absolute positions, the transformer layers and the neck.

    Args:
        config: the vision config.
    """

    def __init__(self, config: SamVisionConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.patch_embed = PatchEmbeddings(config, name="patch_embed")
        self.grid = config.grid_size
        self.pos_embed = None
        self.layers = [
            VisionLayer(
                config, window_size=0 if i in config.global_attn_indexes else config.window_size, name=f"layers_{i}"
            )
            for i in range(config.num_hidden_layers)
        ]
        self.neck = VisionNeck(config, name="neck")

    def build(self, input_shape: tuple | None = None) -> None:
        self.patch_embed.build()
        if self.config.use_abs_pos:
            shape = (1, self.grid, self.grid, self.config.hidden_size)
            self.pos_embed = self.add_weight(shape=shape, initializer="zeros", name="pos_embed")
        for layer in self.layers:
            layer.build()
        self.neck.build()

    def call(
        self, pixel_values: tf.Tensor, output_attentions: bool = False, output_hidden_states: bool = False
    ) -> tuple[tf.Tensor, tuple[tf.Tensor, ...] | None, tuple[tf.Tensor, ...] | None]:
        """(B, 3, S, S) pixels -> (B, H, W, output_channels) embeddings, hidden states, attentions.

        Hidden states are the L+1 channels-last (B, H, W, C) grids: the embeddings, then each layer's output.
        """
        hidden_states = self.patch_embed(pixel_values)
        if self.pos_embed is not None:
            hidden_states = hidden_states + self.pos_embed
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, output_attentions=output_attentions)
            if all_hidden is not None:
                all_hidden.append(hidden_states)
            if all_attentions is not None:
                all_attentions.append(weights)
        embeddings = self.neck(hidden_states)
        return (
            embeddings,
            tuple(all_hidden) if all_hidden is not None else None,
            tuple(all_attentions) if all_attentions is not None else None,
        )

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config)
