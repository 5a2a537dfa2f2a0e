"""A small adapter that lets framework-neutral code drive a SAM model of either backend.

The model is a ``sam_torch.SamModel`` or a ``sam_tf.TFSamModel`` (transformers' SamModel / TFSamModel work too:
the API is the same). The framework is read from the model's class hierarchy by module name, so nothing is
imported until the model is called. Inputs are numpy in the HF shapes; outputs come back as numpy.

Shape legend: B images, P prompts, N points per prompt, K masks per prompt, C embedding channels, g embedding
grid (64), L low-res mask side (256), S input side (1024).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensors import to_framework, to_numpy

_TORCH_ROOTS = ("torch",)
_TF_ROOTS = ("keras", "tf_keras", "tensorflow")


def detect_framework(model: Any) -> str:
    """"pt" for a torch nn.Module, "tf" for a Keras / TensorFlow model, judged by the classes' module names.

    Raises:
        TypeError: for anything else.
    """
    for cls in type(model).__mro__:
        root = (cls.__module__ or "").split(".", 1)[0]
        if root in _TORCH_ROOTS:
            return "pt"
        if root in _TF_ROOTS:
            return "tf"
    raise TypeError(
        f"model must be a sam_torch.SamModel or a sam_tf.TFSamModel (a torch or Keras model), "
        f"got {type(model).__module__}.{type(model).__name__}"
    )


class ModelBackend:
    """Runs a SAM model's image encoder and mask decoder on numpy inputs.

    Args:
        model: the SAM model (torch or Keras), with ``config``, ``get_image_embeddings`` and a call that takes
            ``image_embeddings`` and prompts.

    Attributes:
        framework: "pt" or "tf".
        image_size: S, the model's input side.
        low_res_size: L, the side of the decoder's mask logits and of mask inputs.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.framework = detect_framework(model)
        vision = model.config.vision_config
        self.image_size = int(vision.image_size)
        self.low_res_size = 4 * (int(vision.image_size) // int(vision.patch_size))

    def _param_dtype_device(self) -> tuple[Any, Any]:
        parameter = next(iter(self.model.parameters()))
        return parameter.dtype, parameter.device

    def _to_native(self, array: np.ndarray | None) -> Any:
        """numpy -> the model's tensor kind (floats in the model's dtype, on its device)."""
        if array is None:
            return None
        array = np.ascontiguousarray(array)
        tensor = to_framework(array, self.framework)
        if self.framework == "pt":
            dtype, device = self._param_dtype_device()
            return tensor.to(device=device, dtype=dtype if tensor.is_floating_point() else None)
        return tensor

    def embed(self, pixel_values: np.ndarray) -> Any:
        """(B, 3, S, S) float32 pixel values -> (B, C, g, g) image embeddings, kept as a native tensor."""
        if self.framework == "pt":
            import torch

            with torch.no_grad():
                return self.model.get_image_embeddings(self._to_native(pixel_values))
        return self.model.get_image_embeddings(self._to_native(pixel_values))

    def repeat_embeddings(self, embeddings: Any, count: int) -> Any:
        """(1, C, g, g) native embeddings -> (count, C, g, g)."""
        if count == 1:
            return embeddings
        if self.framework == "pt":
            return embeddings.expand(count, *embeddings.shape[1:]).contiguous()
        import tensorflow as tf

        return tf.repeat(embeddings, count, axis=0)

    def decode(
        self,
        embeddings: Any,
        *,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        masks: np.ndarray | None = None,
        multimask_output: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Runs the prompt encoder and mask decoder once.

        Args:
            embeddings: (B, C, g, g) native embeddings from :meth:`embed`.
            points: (B, P, N, 2) float xy in the resized S frame.
            labels: (B, P, N) int labels.
            boxes: (B, P, 4) float XYXY in the resized S frame.
            masks: (B, 1, L, L) mask-input logits.
            multimask_output: three masks per prompt, or one.

        Returns:
            (B, P, K, L, L) float32 mask logits and (B, P, K) float32 predicted IoUs.
        """
        kwargs = dict(
            image_embeddings=embeddings,
            input_points=self._to_native(None if points is None else points.astype(np.float32)),
            input_labels=self._to_native(None if labels is None else labels.astype(np.int64)),
            input_boxes=self._to_native(None if boxes is None else boxes.astype(np.float32)),
            input_masks=self._to_native(None if masks is None else masks.astype(np.float32)),
            multimask_output=bool(multimask_output),
        )
        if self.framework == "pt":
            import torch

            with torch.no_grad():
                outputs = self.model(**kwargs)
        else:
            outputs = self.model(**kwargs)
        logits = to_numpy(outputs.pred_masks).astype(np.float32, copy=False)
        return logits, to_numpy(outputs.iou_scores).astype(np.float32, copy=False)
