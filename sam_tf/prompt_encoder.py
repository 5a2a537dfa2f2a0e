"""The SAM prompt encoder: points, boxes and masks to sparse and dense embeddings (Keras 3, NHWC).

Shape legend: B images, P prompts per image, N points per prompt, C hidden size (256), h/w embedding grid (64).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from sam_core.config import SamConfig, SamPromptEncoderConfig, SamVisionConfig

from .layers import LayerNorm2d, SamLayer, get_activation

PAD_LABEL = -10
NOT_A_POINT_LABEL = -1


@keras.saving.register_keras_serializable(package="dualsam")
class PositionalEmbedding(SamLayer):
    """Random Fourier features of 2-D coordinates (the Gaussian matrix is the ``positional_embedding`` variable)."""

    def __init__(self, config: SamVisionConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config

    def build(self, input_shape: tuple | None = None) -> None:
        self.positional_embedding = self.add_weight(
            shape=(2, self.config.num_pos_feats), initializer="zeros", trainable=False, name="positional_embedding"
        )

    def call(self, coordinates: tf.Tensor, input_shape: tuple[int, int] | None = None) -> tf.Tensor:
        """(..., 2) xy coordinates -> (..., 2*num_pos_feats) [sin, cos] features.

        Args:
            coordinates: xy, in [0, 1] unless ``input_shape`` (height, width) is given to normalize them.
            input_shape: the frame the coordinates are in.
        """
        if input_shape is not None:
            coordinates = coordinates / tf.constant([input_shape[1], input_shape[0]], dtype=coordinates.dtype)
        coordinates = tf.cast(2 * coordinates - 1, self.positional_embedding.dtype)
        # tensordot multiplies as one 2-D matmul: TF 2.21's oneDNN kernel for a broadcasting batch matmul
        # ((B, P, N, 2) @ (2, F)) corrupts the heap for some batch shapes (e.g. B = 8, P = 1).
        projected = 2 * math.pi * tf.tensordot(coordinates, self.positional_embedding, axes=1)
        return tf.concat([tf.sin(projected), tf.cos(projected)], axis=-1)

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config)


@keras.saving.register_keras_serializable(package="dualsam")
class MaskEmbedding(SamLayer):
    """Downscales (B, 4h, 4w, 1) mask logits to (B, h, w, C) dense embeddings."""

    def __init__(self, config: SamPromptEncoderConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        inner = config.mask_input_channels // 4
        self.activation = get_activation(config.hidden_act, layer_name="activation")
        self.conv1 = keras.layers.Conv2D(inner, kernel_size=2, strides=2, name="conv1")
        self.conv2 = keras.layers.Conv2D(config.mask_input_channels, kernel_size=2, strides=2, name="conv2")
        self.conv3 = keras.layers.Conv2D(config.hidden_size, kernel_size=1, name="conv3")
        self.layer_norm1 = LayerNorm2d(inner, eps=config.layer_norm_eps, name="layer_norm1")
        self.layer_norm2 = LayerNorm2d(config.mask_input_channels, eps=config.layer_norm_eps, name="layer_norm2")

    def build(self, input_shape: tuple | None = None) -> None:
        inner = self.config.mask_input_channels // 4
        self.conv1.build((None, None, None, 1))
        self.conv2.build((None, None, None, inner))
        self.conv3.build((None, None, None, self.config.mask_input_channels))
        self.layer_norm1.build()
        self.layer_norm2.build()

    def call(self, masks: tf.Tensor) -> tf.Tensor:
        hidden_states = self.activation(self.layer_norm1(self.conv1(masks)))
        hidden_states = self.activation(self.layer_norm2(self.conv2(hidden_states)))
        return self.conv3(hidden_states)

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config)


@keras.saving.register_keras_serializable(package="dualsam")
class PromptEncoder(SamLayer):
    """Embeds point, box and mask prompts.

    Args:
        config: the full SamConfig (the positional embedding reads the vision config).
        shared_embedding: the model's PositionalEmbedding, shared with the image-wide positional encoding.
    """

    def __init__(self, config: SamConfig, shared_embedding: PositionalEmbedding, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        prompt_config = config.prompt_encoder_config
        self.shared_embedding = shared_embedding
        self.mask_embed = MaskEmbedding(prompt_config, name="mask_embed")
        self.no_mask_embed = keras.layers.Embedding(1, prompt_config.hidden_size, name="no_mask_embed")
        grid = prompt_config.image_embedding_size
        self.image_embedding_size = (grid, grid)
        self.input_image_size = prompt_config.image_size
        self.point_embed = [
            keras.layers.Embedding(1, prompt_config.hidden_size, name=f"point_embed_{i}")
            for i in range(prompt_config.num_point_embeddings)
        ]
        self.not_a_point_embed = keras.layers.Embedding(1, prompt_config.hidden_size, name="not_a_point_embed")

    def build(self, input_shape: tuple | None = None) -> None:
        if not self.shared_embedding.built:
            self.shared_embedding.build()
        self.mask_embed.build()
        for embedding in [self.no_mask_embed, *self.point_embed, self.not_a_point_embed]:
            embedding.build()

    def _embed_points(self, points: tf.Tensor, labels: tf.Tensor, pad: bool) -> tf.Tensor:
        """(B, P, N, 2) points and (B, P, N) labels -> (B, P, N(+1), C); ``pad`` appends a not-a-point."""
        points = points + 0.5  # pixel centres
        if pad:
            shape = tf.shape(points)
            points = tf.concat([points, tf.zeros((shape[0], shape[1], 1, 2), points.dtype)], axis=2)
            labels = tf.concat([labels, tf.fill((shape[0], shape[1], 1), tf.cast(NOT_A_POINT_LABEL, labels.dtype))], 2)
        size = (self.input_image_size, self.input_image_size)
        embedding = self.shared_embedding(points, input_shape=size)
        labels = labels[..., None]
        embedding = tf.where(labels == NOT_A_POINT_LABEL, self.not_a_point_embed.embeddings, embedding)
        embedding = tf.where(labels == PAD_LABEL, tf.zeros_like(embedding), embedding)
        embedding = embedding + tf.cast(labels == 0, embedding.dtype) * self.point_embed[0].embeddings
        return embedding + tf.cast(labels == 1, embedding.dtype) * self.point_embed[1].embeddings

    def _embed_boxes(self, boxes: tf.Tensor) -> tf.Tensor:
        """(B, P, 4) xyxy boxes -> (B, P, 2, C) corner embeddings."""
        shape = tf.shape(boxes)
        corners = tf.reshape(boxes + 0.5, (shape[0], shape[1], 2, 2))
        embedding = self.shared_embedding(corners, input_shape=(self.input_image_size, self.input_image_size))
        corner_types = tf.concat([self.point_embed[2].embeddings, self.point_embed[3].embeddings], axis=0)
        return embedding + corner_types

    def call(
        self,
        input_points: tf.Tensor | None,
        input_labels: tf.Tensor | None,
        input_boxes: tf.Tensor | None,
        input_masks: tf.Tensor | None,
    ) -> tuple[tf.Tensor | None, tf.Tensor]:
        """Returns sparse (B, P, N', C) embeddings (None without points or boxes) and dense (B, h, w, C) ones.

        ``input_masks`` is channels-last (B, 4h, 4w, 1).
        """
        sparse = None
        batch = 1
        if input_points is not None:
            batch = tf.shape(input_points)[0]
            sparse = self._embed_points(input_points, input_labels, pad=input_boxes is None)
        if input_boxes is not None:
            batch = tf.shape(input_boxes)[0]
            boxes = self._embed_boxes(input_boxes)
            sparse = boxes if sparse is None else tf.concat([sparse, boxes], axis=2)
        if input_masks is not None:
            dense = self.mask_embed(input_masks)
        else:
            dense = tf.broadcast_to(
                tf.reshape(self.no_mask_embed.embeddings, (1, 1, 1, -1)),
                (batch, *self.image_embedding_size, self.no_mask_embed.output_dim),
            )
        return sparse, dense

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["shared_embedding"] = keras.saving.serialize_keras_object(self.shared_embedding)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PromptEncoder:
        config = dict(config)
        config["shared_embedding"] = keras.saving.deserialize_keras_object(config["shared_embedding"])
        return super().from_config(config)

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config)
