"""The tf.functions that the LiteRT export converts (``sam_tf.tflite_export``): the image encoder alone, the
prompt encoder + mask decoder with Meta's ONNX decoder signature (segment-anything's
``scripts/export_onnx_model.py``), and the same decoder for a batch of prompts returning low-res logits only. The
Keras twin of ``sam_torch/onnx_graphs.py``, name for name.

Inputs and outputs are channels-first as in Meta's signature (``sam_core.onnx_signature``); the layers run
channels-last inside. The decoder emulates Meta's ``SamOnnxModel`` on our layers: every prompt comes as points
(labels 2 and 3 are the box corners, -1 a padding point), the dense prompt is ``has_mask_input`` times the mask
embedding plus ``1 - has_mask_input`` times the no-mask embedding, all K mask tokens are returned (the single-mask
token first), and ``masks`` are the logits upscaled like Meta's (bilinear to S, crop to the resized size, bilinear
to ``orig_im_size``; LiteRT resizes and slices to sizes read from the input tensor, so ``masks`` is a dynamic
output).

The low-res decoder (``LowResDecoderGraph``) takes P prompts of N points each on one image in one run and skips the
upscaling: it returns ``low_res_masks`` and ``iou_predictions`` of every mask token. Its mask input comes once per
prompt or once for all (M = P or 1).

Shape legend: P prompts, M mask inputs (1 or P), N points, K mask tokens, C embedding channels, g grid, L low-res
side (4 g), S input side, H/W original image size.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from .prompt_encoder import NOT_A_POINT_LABEL, PAD_LABEL

_NCHW_TO_NHWC = (0, 2, 3, 1)
_NHWC_TO_NCHW = (0, 3, 1, 2)


class ImageEncoderGraph(tf.Module):
    """pixel_values (1, 3, S, S) -> image_embeddings (1, C, g, g): the model's vision encoder alone."""

    def __init__(self, model: keras.Model) -> None:
        super().__init__(name="image_encoder_graph")
        self.model = model
        vision = model.config.vision_config
        self.input_signature = [
            tf.TensorSpec((1, vision.num_channels, vision.image_size, vision.image_size), tf.float32, "pixel_values")
        ]

    def __call__(self, pixel_values: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"image_embeddings": tf.transpose(self.model.vision_encoder(pixel_values)[0], _NHWC_TO_NCHW)}


class PromptDecoderGraph(tf.Module):
    """Meta's ONNX decoder (``SamOnnxModel``) on our prompt encoder and mask decoder.

    Args:
        model: a sam_tf.TFSamModel.
    """

    def __init__(self, model: keras.Model) -> None:
        super().__init__(name="prompt_decoder_graph")
        self.model = model
        vision = model.config.vision_config
        self.image_size = int(vision.image_size)
        channels, grid, low_res = vision.output_channels, vision.grid_size, 4 * vision.grid_size
        self.input_signature = [
            tf.TensorSpec((1, channels, grid, grid), tf.float32, "image_embeddings"),
            tf.TensorSpec((1, None, 2), tf.float32, "point_coords"),
            tf.TensorSpec((1, None), tf.float32, "point_labels"),
            tf.TensorSpec((1, 1, low_res, low_res), tf.float32, "mask_input"),
            tf.TensorSpec((1,), tf.float32, "has_mask_input"),
            tf.TensorSpec((2,), tf.float32, "orig_im_size"),
        ]

    def embed_points(self, point_coords: tf.Tensor, point_labels: tf.Tensor) -> tf.Tensor:
        """(P, N, 2) S-frame points and (P, N) float codes -> (P, 1, N, C) sparse embeddings, the numbers of the
        prompt encoder's point and box paths (box corners are the points labelled 2 and 3)."""
        encoder = self.model.prompt_encoder
        side = self.image_size
        embedding = encoder.shared_embedding(point_coords + 0.5, input_shape=(side, side))
        labels = tf.expand_dims(point_labels, -1)  # not [..., None]: LiteRT has no new-axis strided slice
        embedding = tf.where(labels == NOT_A_POINT_LABEL, encoder.not_a_point_embed.embeddings, embedding)
        embedding = tf.where(labels == PAD_LABEL, tf.zeros_like(embedding), embedding)
        for code, point_embed in enumerate(encoder.point_embed):
            embedding = embedding + tf.cast(labels == code, embedding.dtype) * point_embed.embeddings
        return tf.expand_dims(embedding, 1)

    def embed_mask(self, mask_input: tf.Tensor, has_mask_input: tf.Tensor) -> tf.Tensor:
        """(M, 1, L, L) mask logits and the (M, 1, 1, 1) switch -> (M, g, g, C) dense embeddings."""
        encoder = self.model.prompt_encoder
        no_mask = tf.reshape(encoder.no_mask_embed.embeddings, (1, 1, 1, -1))
        masks = encoder.mask_embed(tf.transpose(mask_input, _NCHW_TO_NHWC))
        return has_mask_input * masks + (1 - has_mask_input) * no_mask

    def predict_masks(self, image_embeddings: tf.Tensor, sparse: tf.Tensor, dense: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """(B, C, g, g), (B, 1, N, C), (B, g, g, C) -> (B, K, L, L) low-res logits and (B, K) IoUs."""
        images = tf.transpose(image_embeddings, _NCHW_TO_NHWC)
        positional = self.model.get_image_wide_positional_embeddings()
        positional = tf.tile(positional, (tf.shape(images)[0], 1, 1, 1))
        masks, iou, _ = self.model.mask_decoder.predict_masks(images, positional, sparse, dense)
        return masks[:, 0], iou[:, 0]

    def upscale(self, masks: tf.Tensor, orig_im_size: tf.Tensor) -> tf.Tensor:
        """(1, K, L, L) logits -> (1, K, H, W): bilinear to S, crop to the resized size, bilinear to (H, W)."""
        side = self.image_size
        masks = tf.image.resize(tf.transpose(masks, _NCHW_TO_NHWC), (side, side), method="bilinear")
        resized = tf.cast(tf.floor(orig_im_size * (side / tf.reduce_max(orig_im_size)) + 0.5), tf.int32)
        masks = masks[:, : resized[0], : resized[1]]
        masks = tf.image.resize(masks, tf.cast(orig_im_size, tf.int32), method="bilinear")
        return tf.transpose(masks, _NHWC_TO_NCHW)

    def __call__(
        self,
        image_embeddings: tf.Tensor,
        point_coords: tf.Tensor,
        point_labels: tf.Tensor,
        mask_input: tf.Tensor,
        has_mask_input: tf.Tensor,
        orig_im_size: tf.Tensor,
    ) -> dict[str, tf.Tensor]:
        """Meta's decoder: returns masks (1, K, H, W) logits, iou_predictions (1, K), low_res_masks (1, K, L, L)."""
        sparse = self.embed_points(point_coords, point_labels)
        dense = self.embed_mask(mask_input, tf.reshape(has_mask_input, (-1, 1, 1, 1)))
        masks, iou = self.predict_masks(image_embeddings, sparse, dense)
        return {"masks": self.upscale(masks, orig_im_size), "iou_predictions": iou, "low_res_masks": masks}


class LowResDecoderGraph(PromptDecoderGraph):
    """P prompts on one image in one run, Meta's prompt format, the low-res logits of every mask token.

    Each prompt is one row of the batch (the image embedding and the dense prompt are expanded to P), so each
    prompt may carry its own mask input.

    Args:
        model: a sam_tf.TFSamModel.
    """

    def __init__(self, model: keras.Model) -> None:
        super().__init__(model)
        embeddings, _, _, mask_input, _, _ = self.input_signature
        low_res = mask_input.shape[-1]
        self.input_signature = [
            embeddings,
            tf.TensorSpec((None, None, 2), tf.float32, "point_coords"),
            tf.TensorSpec((None, None), tf.float32, "point_labels"),
            tf.TensorSpec((None, 1, low_res, low_res), tf.float32, "mask_input"),
            tf.TensorSpec((None,), tf.float32, "has_mask_input"),
        ]

    def __call__(
        self,
        image_embeddings: tf.Tensor,
        point_coords: tf.Tensor,
        point_labels: tf.Tensor,
        mask_input: tf.Tensor,
        has_mask_input: tf.Tensor,
    ) -> dict[str, tf.Tensor]:
        """(1, C, g, g), (P, N, 2), (P, N), (M, 1, L, L), (M,) -> low_res_masks (P, K, L, L), iou_predictions
        (P, K)."""
        prompts = tf.shape(point_coords)[0]
        sparse = self.embed_points(point_coords, point_labels)  # (P, 1, N, C)
        dense = self.embed_mask(mask_input, tf.reshape(has_mask_input, (-1, 1, 1, 1)))
        dense = tf.broadcast_to(dense, tf.concat([[prompts], tf.shape(dense)[1:]], axis=0))
        images = tf.broadcast_to(image_embeddings, tf.concat([[prompts], tf.shape(image_embeddings)[1:]], axis=0))
        masks, iou = self.predict_masks(images, sparse, dense)
        return {"low_res_masks": masks, "iou_predictions": iou}


def concrete_function(graph: Any) -> Any:
    """The graph's traced tf.function on its input signature."""
    return tf.function(graph.__call__, input_signature=graph.input_signature).get_concrete_function()
