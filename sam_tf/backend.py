"""The Keras side of ``sam_core.backend.PredictionBackend``: runs a TFSamModel on numpy inputs for the predictor,
the mask generator, evaluation and verification (mirrors ``sam_torch/backend.py``).

transformers' TFSamModel has the same API, so ``ModelBackend(transformers_model)`` works too.

Shape legend: B images, P prompts, N points per prompt, K masks per prompt, C embedding channels, g embedding
grid, L low-res mask side (4 g), S input side.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class ModelBackend:
    """Runs a Keras SAM model's image encoder and mask decoder on numpy inputs.

    Args:
        model: a sam_tf.TFSamModel (or transformers' TFSamModel).

    Attributes:
        image_size: S, the model's input side.
        low_res_size: L, the side of the decoder's mask logits and of mask inputs.
    """

    def __init__(self, model: tf.keras.Model) -> None:
        self.model = model
        vision = model.config.vision_config
        self.image_size = int(vision.image_size)
        self.low_res_size = 4 * (int(vision.image_size) // int(vision.patch_size))  # transformers configs too

    def _to_native(self, array: np.ndarray | None) -> tf.Tensor | None:
        """numpy -> a tensor (floats as float32)."""
        if array is None:
            return None
        return tf.convert_to_tensor(np.ascontiguousarray(array))

    def embed(self, pixel_values: np.ndarray) -> tf.Tensor:
        """(B, 3, S, S) float32 pixel values -> (B, C, g, g) image embeddings."""
        return self.model.get_image_embeddings(self._to_native(pixel_values))

    def repeat_embeddings(self, embeddings: tf.Tensor, count: int) -> tf.Tensor:
        """(1, C, g, g) embeddings -> (count, C, g, g)."""
        if count == 1:
            return embeddings
        return tf.repeat(embeddings, count, axis=0)

    def decode(
        self,
        embeddings: tf.Tensor,
        *,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        masks: np.ndarray | None = None,
        multimask_output: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Runs the prompt encoder and mask decoder once (see ``sam_core.backend.PredictionBackend.decode``).

        Returns:
            (B, P, K, L, L) float32 mask logits and (B, P, K) float32 predicted IoUs.
        """
        outputs = self.model(
            image_embeddings=embeddings,
            input_points=self._to_native(None if points is None else points.astype(np.float32)),
            input_labels=self._to_native(None if labels is None else labels.astype(np.int64)),
            input_boxes=self._to_native(None if boxes is None else boxes.astype(np.float32)),
            input_masks=self._to_native(None if masks is None else masks.astype(np.float32)),
            multimask_output=bool(multimask_output),
        )
        logits = np.asarray(outputs.pred_masks, dtype=np.float32)
        return logits, np.asarray(outputs.iou_scores, dtype=np.float32)
