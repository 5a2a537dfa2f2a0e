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


#: The most bytes of one decoder call's largest per-prompt activations. Every prompt carries the image-sized keys
#: (C x g x g) and the upscaled mask features (C/8 x 4g x 4g, twice as many values) through the decoder, so one call
#: on a large batch of prompts makes arrays of hundreds of MB: on the CPU each such array costs fresh pages (slower
#: than the arithmetic on it), where arrays under this size are reused. The model backends decode in slices of
#: prompts under it (2 prompts at a time for SAM's 256 x 64 x 64 embeddings, 32 for the default model's).
DECODE_SLICE_BYTES = 16 * 2**20


def prompt_slices(count: int, embedding_shape: tuple[int, ...]) -> list[slice]:
    """Slices of ``count`` prompts whose decoder activations stay under DECODE_SLICE_BYTES.

    Args:
        count: P, the number of prompts per image.
        embedding_shape: (B, C, g, g), the image embeddings' shape.
    """
    channels, grid = int(embedding_shape[1]), int(embedding_shape[-1])
    size = max(1, DECODE_SLICE_BYTES // (2 * channels * grid * grid * 4))
    return [slice(start, min(start + size, count)) for start in range(0, max(count, 1), size)]


class SlicedDecoding:
    """Mixin of the model backends: :meth:`PredictionBackend.decode` through the backend's ``_decode_once`` (one
    decoder call, the same arguments) on slices of the prompts (see :func:`prompt_slices`), the outputs
    concatenated along the prompt axis."""

    def _decode_once(
        self,
        embeddings: Any,
        *,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        masks: np.ndarray | None,
        multimask_output: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

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
        """Runs the prompt encoder and mask decoder (see PredictionBackend.decode), on slices of the prompts that
        keep the decoder's arrays small.

        Returns:
            (B, P, K, L, L) float32 mask logits and (B, P, K) float32 predicted IoUs.
        """
        count = next((int(a.shape[1]) for a in (points, boxes) if a is not None), 1)
        cut = lambda a, part: None if a is None else a[:, part]  # noqa: E731
        parts = [
            self._decode_once(
                embeddings,
                points=cut(points, part),
                labels=cut(labels, part),
                boxes=cut(boxes, part),
                masks=masks,
                multimask_output=multimask_output,
            )
            for part in prompt_slices(count, tuple(embeddings.shape))
        ]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)
