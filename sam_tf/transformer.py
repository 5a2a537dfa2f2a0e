"""The two-way transformer of the SAM mask decoder (Keras 3).

Shape legend: B images, P prompts per image, Q query tokens, K key tokens (h*w image positions), C hidden size.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from sam_core.config import SamMaskDecoderConfig

from .layers import MLPBlock, SamLayer

#: transformers' torch SamTwoWayTransformer builds layer_norm_final_attn with nn.LayerNorm's default eps.
TORCH_LAYER_NORM_EPS = 1e-5


@keras.saving.register_keras_serializable(package="dualsam")
class Attention(SamLayer):
    """Multi-head attention with an optional down-projection of the inner width.

    Args:
        config: the mask decoder config.
        downsample_rate: inner width = hidden_size // downsample_rate.
    """

    def __init__(self, config: SamMaskDecoderConfig, downsample_rate: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config, self.downsample_rate = config, downsample_rate
        self.hidden_size = config.hidden_size
        self.internal_dim = config.hidden_size // downsample_rate
        self.num_attention_heads = config.num_attention_heads
        self.q_proj = keras.layers.Dense(self.internal_dim, name="q_proj")
        self.k_proj = keras.layers.Dense(self.internal_dim, name="k_proj")
        self.v_proj = keras.layers.Dense(self.internal_dim, name="v_proj")
        self.out_proj = keras.layers.Dense(self.hidden_size, name="out_proj")

    def build(self, input_shape: tuple | None = None) -> None:
        for layer in (self.q_proj, self.k_proj, self.v_proj):
            layer.build((None, self.hidden_size))
        self.out_proj.build((None, self.internal_dim))

    def _separate_heads(self, hidden_states: tf.Tensor, prompts: tf.Tensor) -> tf.Tensor:
        """(B, P or 1, T, D) -> (B*P, heads, T, D/heads); a prompt axis of 1 is repeated P times."""
        shape = tf.shape(hidden_states)
        heads = self.num_attention_heads
        hidden_states = tf.broadcast_to(hidden_states, (shape[0], prompts, shape[2], shape[3]))
        split = tf.reshape(hidden_states, (shape[0] * prompts, shape[2], heads, self.internal_dim // heads))
        return tf.transpose(split, (0, 2, 1, 3))

    def call(
        self,
        query: tf.Tensor,
        key: tf.Tensor,
        value: tf.Tensor,
        attention_similarity: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """(B, P, Q, C) queries over (B, P, K, C) keys/values -> (B, P, Q, C).

        Either side may have a prompt axis of 1, shared by the P prompts of the other side (the image before the
        first block's image-to-token attention): its projections are computed once. Keys shared by every prompt
        take all the prompts' queries as one sequence of P*Q queries (the same per-query softmax).

        Args:
            attention_similarity: an additive logit bias broadcastable to (B*P, heads, Q, K) (PerSAM).
        """
        shape = tf.shape(query)
        prompts = tf.maximum(shape[1], tf.shape(key)[1])
        if key.shape[1] == 1 and query.shape[1] != 1 and attention_similarity is None:
            folded = self.call(tf.reshape(query, (shape[0], 1, -1, query.shape[-1])), key, value)
            return tf.reshape(folded, (shape[0], prompts, shape[2], self.hidden_size))
        query = self._separate_heads(self.q_proj(query), prompts)
        key = self._separate_heads(self.k_proj(key), prompts)
        value = self._separate_heads(self.v_proj(value), prompts)
        scale = (self.internal_dim // self.num_attention_heads) ** -0.5
        logits = tf.matmul(query, key, transpose_b=True) * scale
        if attention_similarity is not None:
            logits = logits + attention_similarity
        output = tf.matmul(tf.nn.softmax(logits, axis=-1), value)
        output = tf.reshape(tf.transpose(output, (0, 2, 1, 3)), (shape[0], prompts, -1, self.internal_dim))
        return self.out_proj(output)

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config, downsample_rate=self.downsample_rate)


@keras.saving.register_keras_serializable(package="dualsam")
class TwoWayAttentionBlock(SamLayer):
    """Token self-attention, token-to-image attention, MLP, and image-to-token attention.

    Args:
        config: the mask decoder config.
        attention_downsample_rate: inner width reduction of the cross attentions.
        skip_first_layer_pe: the first block's self-attention sees no positional embedding.
    """

    def __init__(
        self,
        config: SamMaskDecoderConfig,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.config, self.attention_downsample_rate = config, attention_downsample_rate
        eps = config.layer_norm_eps
        self.self_attn = Attention(config, downsample_rate=1, name="self_attn")
        self.layer_norm1 = keras.layers.LayerNormalization(epsilon=eps, name="layer_norm1")
        self.cross_attn_token_to_image = Attention(
            config, downsample_rate=attention_downsample_rate, name="cross_attn_token_to_image"
        )
        self.layer_norm2 = keras.layers.LayerNormalization(epsilon=eps, name="layer_norm2")
        self.mlp = MLPBlock(
            hidden_size=config.hidden_size, mlp_dim=config.mlp_dim, hidden_act=config.hidden_act, name="mlp"
        )
        self.layer_norm3 = keras.layers.LayerNormalization(epsilon=eps, name="layer_norm3")
        self.layer_norm4 = keras.layers.LayerNormalization(epsilon=eps, name="layer_norm4")
        self.cross_attn_image_to_token = Attention(
            config, downsample_rate=attention_downsample_rate, name="cross_attn_image_to_token"
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def build(self, input_shape: tuple | None = None) -> None:
        for layer in (self.self_attn, self.cross_attn_token_to_image, self.mlp, self.cross_attn_image_to_token):
            layer.build()
        for norm in (self.layer_norm1, self.layer_norm2, self.layer_norm3, self.layer_norm4):
            norm.build((None, self.config.hidden_size))

    def call(
        self,
        queries: tf.Tensor,
        keys: tf.Tensor,
        query_point_embedding: tf.Tensor,
        key_point_embedding: tf.Tensor,
        attention_similarity: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Returns the new (B, P, Q, C) queries, (B, P, K, C) keys, and the image-to-token attention output.

        The keys may come as (B, 1, K, C), shared by the P prompts (the first block); they leave per prompt.
        """
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            query = queries + query_point_embedding
            queries = queries + self.self_attn(query, query, queries)
        queries = self.layer_norm1(queries)

        query = queries + query_point_embedding
        key = keys + key_point_embedding  # the keys do not change before the image-to-token attention
        queries = queries + self.cross_attn_token_to_image(query, key, keys, attention_similarity=attention_similarity)
        queries = self.layer_norm2(queries)

        queries = self.layer_norm3(queries + self.mlp(queries))

        query = queries + query_point_embedding
        attn_out = self.cross_attn_image_to_token(key, query, queries)
        keys = self.layer_norm4(keys + attn_out)
        return queries, keys, attn_out

    def _constructor_config(self) -> dict[str, Any]:
        return dict(
            config=self.config,
            attention_downsample_rate=self.attention_downsample_rate,
            skip_first_layer_pe=self.skip_first_layer_pe,
        )


@keras.saving.register_keras_serializable(package="dualsam")
class TwoWayTransformer(SamLayer):
    """A stack of TwoWayAttentionBlocks and a final token-to-image attention."""

    def __init__(self, config: SamMaskDecoderConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.layers = [
            TwoWayAttentionBlock(
                config,
                attention_downsample_rate=config.attention_downsample_rate,
                skip_first_layer_pe=i == 0,
                name=f"layers_{i}",
            )
            for i in range(config.num_hidden_layers)
        ]
        self.final_attn_token_to_image = Attention(
            config, downsample_rate=config.attention_downsample_rate, name="final_attn_token_to_image"
        )
        self.layer_norm_final_attn = keras.layers.LayerNormalization(
            epsilon=TORCH_LAYER_NORM_EPS, name="layer_norm_final_attn"
        )

    def build(self, input_shape: tuple | None = None) -> None:
        for layer in self.layers:
            layer.build()
        self.final_attn_token_to_image.build()
        self.layer_norm_final_attn.build((None, self.config.hidden_size))

    def call(
        self,
        point_embeddings: tf.Tensor,
        image_embeddings: tf.Tensor,
        image_positional_embeddings: tf.Tensor,
        attention_similarity: tf.Tensor | None = None,
        target_embedding: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor, tuple[tf.Tensor, ...]]:
        """Runs the blocks.

        Args:
            point_embeddings: (B, P, Q, C) output and prompt tokens.
            image_embeddings: (B, h, w, C), shared by the P prompts of each image (nothing image-sized is repeated
                per prompt before the first block makes the keys differ).
            image_positional_embeddings: (B, h, w, C).
            attention_similarity: additive token-to-image logit bias (PerSAM).
            target_embedding: added to the queries before every block (PerSAM); the first addition also reaches
                the query positional embedding, as in transformers.

        Returns:
            (B, P, Q, C) queries, (B, P, K, C) keys (B, 1, K, C without blocks), and each block's image-to-token
            attention output as (B*P, 1, K, C), transformers' layout.
        """
        channels = image_embeddings.shape[-1]
        keys = tf.reshape(image_embeddings, (tf.shape(image_embeddings)[0], 1, -1, channels))
        key_pe = tf.reshape(image_positional_embeddings, (tf.shape(image_positional_embeddings)[0], 1, -1, channels))
        if target_embedding is not None:
            point_embeddings = point_embeddings + target_embedding
        queries = point_embeddings
        block_outputs = []
        for index, layer in enumerate(self.layers):
            if target_embedding is not None and index > 0:
                queries = queries + target_embedding
            queries, keys, attn_out = layer(
                queries, keys, point_embeddings, key_pe, attention_similarity=attention_similarity
            )
            block_outputs.append(tf.reshape(attn_out, (-1, 1, tf.shape(attn_out)[2], channels)))
        query = queries + point_embeddings
        key = keys + key_pe
        queries = self.layer_norm_final_attn(queries + self.final_attn_token_to_image(query, key, keys))
        return queries, keys, tuple(block_outputs)

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config)
