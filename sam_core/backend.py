"""What framework-neutral code (the predictor, the mask generator, evaluation, verification) needs of a model.

Each backend implements :class:`PredictionBackend` in its own package (``sam_torch.backend.ModelBackend``,
``sam_tf.backend.ModelBackend``) and its model class hands one out through ``prediction_backend()``; runtime
backends (ONNX Runtime, LiteRT) implement the same protocol. Inputs are numpy in the HF shapes; outputs come back
as numpy, except the embeddings, which stay in the backend's native kind between ``embed`` and ``decode``.

Shape legend: B images, P prompts, N points per prompt, K masks per prompt, C embedding channels, g embedding
grid, L low-res mask side (4 g), S input side.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class PredictionBackend(Protocol):
    """Runs a SAM model's image encoder and its prompt encoder + mask decoder on numpy inputs.

    Attributes:
        image_size: S, the model's input side.
        low_res_size: L, the side of the decoder's mask logits and of mask inputs.
    """

    image_size: int
    low_res_size: int

    def embed(self, pixel_values: np.ndarray) -> Any:
        """(B, 3, S, S) float32 pixel values -> (B, C, g, g) image embeddings, in the backend's native kind."""

    def repeat_embeddings(self, embeddings: Any, count: int) -> Any:
        """(1, C, g, g) native embeddings -> (count, C, g, g)."""

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


def as_backend(model: Any) -> PredictionBackend:
    """The prediction backend of ``model``: a dualsam model's ``prediction_backend()``, or ``model`` itself when
    it already implements the protocol.

    Raises:
        TypeError: anything else, saying how to wrap a transformers model.
    """
    make = getattr(model, "prediction_backend", None)
    if callable(make):
        return make()
    if isinstance(model, PredictionBackend):
        return model
    raise TypeError(
        f"model must be a sam_torch.SamModel, a sam_tf.TFSamModel or a PredictionBackend, got "
        f"{type(model).__module__}.{type(model).__name__}; wrap a transformers SamModel / TFSamModel with "
        "sam_torch.ModelBackend(model) / sam_tf.TFModelBackend(model)"
    )
