"""The SavedModel export of TFSamModel: one ``serve`` endpoint from pixels and point prompts to masks and scores.

Shape legend: B images, P prompts per image, N points per prompt, K masks, S image size.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf


def serving_signature(config) -> list[tf.TensorSpec]:
    """pixel_values (B, 3, S, S) float32, input_points (B, P, N, 2) float32, input_labels (B, P, N) int32."""
    vision = config.vision_config
    return [
        tf.TensorSpec((None, vision.num_channels, vision.image_size, vision.image_size), tf.float32, "pixel_values"),
        tf.TensorSpec((None, None, None, 2), tf.float32, "input_points"),
        tf.TensorSpec((None, None, None), tf.int32, "input_labels"),
    ]


def export_serving(model: keras.Model, filepath: str | os.PathLike) -> None:
    """Writes ``model`` as a SavedModel with the ``serve`` endpoint (also the default serving signature).

    The endpoint returns {"pred_masks": (B, P, 3, 256, 256), "iou_scores": (B, P, 3)} (multimask output).
    """

    def serve(pixel_values: tf.Tensor, input_points: tf.Tensor, input_labels: tf.Tensor) -> dict[str, tf.Tensor]:
        output = model(pixel_values=pixel_values, input_points=input_points, input_labels=input_labels)
        return {"pred_masks": output.pred_masks, "iou_scores": output.iou_scores}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=serving_signature(model.config))
    archive.write_out(os.fspath(filepath), verbose=False)
