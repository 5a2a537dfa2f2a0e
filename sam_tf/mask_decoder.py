"""The SAM mask decoder: two-way transformer, upscaling, hypernetwork masks and IoU head (Keras 3, NHWC).

Shape legend: B images, P prompts per image, K masks (num_multimask_outputs + 1 tokens), C hidden size,
h/w embedding grid (64), H/W = 4h/4w mask grid (256).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from sam_core.config import SamMaskDecoderConfig

from .layers import FeedForward, LayerNorm2d, SamLayer
from .transformer import TwoWayTransformer


@keras.saving.register_keras_serializable(package="dualsam")
class MaskDecoder(SamLayer):
    """Predicts masks and their IoU from image and prompt embeddings."""

    def __init__(self, config: SamMaskDecoderConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        hidden = config.hidden_size
        self.num_multimask_outputs = config.num_multimask_outputs
        self.num_mask_tokens = config.num_multimask_outputs + 1
        self.iou_token = keras.layers.Embedding(1, hidden, name="iou_token")
        self.mask_tokens = keras.layers.Embedding(self.num_mask_tokens, hidden, name="mask_tokens")
        self.transformer = TwoWayTransformer(config, name="transformer")
        self.upscale_conv1 = keras.layers.Conv2DTranspose(hidden // 4, kernel_size=2, strides=2, name="upscale_conv1")
        self.upscale_conv2 = keras.layers.Conv2DTranspose(hidden // 8, kernel_size=2, strides=2, name="upscale_conv2")
        self.upscale_layer_norm = LayerNorm2d(hidden // 4, name="upscale_layer_norm")
        self.activation = keras.layers.Activation("gelu", name="activation")
        self.output_hypernetworks_mlps = [
            FeedForward(
                input_dim=hidden,
                hidden_dim=hidden,
                output_dim=hidden // 8,
                num_layers=3,
                name=f"output_hypernetworks_mlps_{i}",
            )
            for i in range(self.num_mask_tokens)
        ]
        self.iou_prediction_head = FeedForward(
            input_dim=hidden,
            hidden_dim=config.iou_head_hidden_dim,
            output_dim=self.num_mask_tokens,
            num_layers=config.iou_head_depth,
            name="iou_prediction_head",
        )

    def build(self, input_shape: tuple | None = None) -> None:
        hidden = self.config.hidden_size
        self.iou_token.build()
        self.mask_tokens.build()
        self.transformer.build()
        self.upscale_conv1.build((None, None, None, hidden))
        self.upscale_conv2.build((None, None, None, hidden // 4))
        self.upscale_layer_norm.build()
        for mlp in self.output_hypernetworks_mlps:
            mlp.build()
        self.iou_prediction_head.build()

    def call(
        self,
        image_embeddings: tf.Tensor,
        image_positional_embeddings: tf.Tensor,
        sparse_prompt_embeddings: tf.Tensor | None,
        dense_prompt_embeddings: tf.Tensor,
        multimask_output: bool,
        attention_similarity: tf.Tensor | None = None,
        target_embedding: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor, tuple[tf.Tensor, ...]]:
        """Decodes masks.

        Args:
            image_embeddings, image_positional_embeddings, sparse_prompt_embeddings, dense_prompt_embeddings,
            attention_similarity, target_embedding: see :meth:`predict_masks`.
            multimask_output: return the K-1 multimask outputs instead of the single-mask token.

        Returns:
            masks (B, P, K', H, W) logits, iou (B, P, K'), and the blocks' attention outputs.
        """
        masks, iou_pred, block_outputs = self.predict_masks(
            image_embeddings,
            image_positional_embeddings,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            attention_similarity=attention_similarity,
            target_embedding=target_embedding,
        )
        mask_slice = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, :, mask_slice], iou_pred[:, :, mask_slice], block_outputs

    def predict_masks(
        self,
        image_embeddings: tf.Tensor,
        image_positional_embeddings: tf.Tensor,
        sparse_prompt_embeddings: tf.Tensor | None,
        dense_prompt_embeddings: tf.Tensor,
        attention_similarity: tf.Tensor | None = None,
        target_embedding: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor, tuple[tf.Tensor, ...]]:
        """Decodes the masks of every mask token (Meta's ``predict_masks``; the ONNX export's four outputs).

        Args:
            image_embeddings: (B, h, w, C).
            image_positional_embeddings: (B, h, w, C).
            sparse_prompt_embeddings: (B, P, N, C) or None.
            dense_prompt_embeddings: (B, h, w, C).
            attention_similarity, target_embedding: PerSAM inputs, see TwoWayTransformer.

        Returns:
            masks (B, P, K, H, W) logits, iou (B, P, K), and the blocks' attention outputs.
        """
        batch = tf.shape(image_embeddings)[0]
        prompts = tf.shape(sparse_prompt_embeddings)[1] if sparse_prompt_embeddings is not None else 1
        output_tokens = tf.concat([self.iou_token.embeddings, self.mask_tokens.embeddings], axis=0)
        tokens = tf.tile(output_tokens[None, None], (batch, prompts, 1, 1))
        if sparse_prompt_embeddings is not None:
            tokens = tf.concat([tokens, tf.cast(sparse_prompt_embeddings, tokens.dtype)], axis=2)

        queries, keys, block_outputs = self.transformer(
            tokens,
            image_embeddings + dense_prompt_embeddings,
            image_positional_embeddings,
            attention_similarity=attention_similarity,
            target_embedding=target_embedding,
        )
        iou_token_out = queries[:, :, 0, :]
        mask_tokens_out = queries[:, :, 1 : 1 + self.num_mask_tokens, :]

        keys = tf.broadcast_to(keys, (batch, prompts, tf.shape(keys)[2], keys.shape[-1]))
        grid = tf.reshape(keys, (-1, *image_embeddings.shape[1:]))
        upscaled = self.activation(self.upscale_layer_norm(self.upscale_conv1(grid)))
        upscaled = self.activation(self.upscale_conv2(upscaled))
        hyper_in = tf.stack(
            [mlp(mask_tokens_out[:, :, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], axis=2
        )
        _, up_height, up_width, up_channels = upscaled.shape
        upscaled = tf.reshape(upscaled, (batch, prompts, -1, up_channels))
        masks = tf.matmul(hyper_in, upscaled, transpose_b=True)
        masks = tf.reshape(masks, (batch, prompts, -1, up_height, up_width))
        iou_pred = self.iou_prediction_head(iou_token_out)
        return masks, iou_pred, block_outputs

    def _constructor_config(self) -> dict[str, Any]:
        return dict(config=self.config)
