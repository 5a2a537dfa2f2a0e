"""The Keras side of ``sam_core.backend.PredictionBackend``: runs a TFSamModel on numpy inputs for the predictor,
the mask generator, evaluation and verification (mirrors ``sam_torch/backend.py``).

transformers' TFSamModel has the same API, so ``ModelBackend(transformers_model)`` works too.

Shape legend: B images, P prompts, N points per prompt, K masks per prompt, C embedding channels, g embedding
grid, L low-res mask side (4 g), S input side.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from sam_core.backend import SlicedDecoding
from sam_core.validation import check_prompt_values


class ModelBackend(SlicedDecoding):
    """Runs a Keras SAM model's image encoder and mask decoder on numpy inputs (decode: in prompt slices, see
    sam_core.backend.SlicedDecoding).

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
        """(B, 3, S, S) float32 pixel values -> (B, C, g, g) image embeddings: eagerly the first times, then as a
        traced graph (see ModelGraphs)."""
        return ModelGraphs.of(self.model).encoder(self.image_size)(self._to_native(pixel_values))

    def repeat_embeddings(self, embeddings: tf.Tensor, count: int) -> tf.Tensor:
        """(1, C, g, g) embeddings -> (count, C, g, g)."""
        if count == 1:
            return embeddings
        return tf.repeat(embeddings, count, axis=0)

    def _decode_once(
        self,
        embeddings: tf.Tensor,
        *,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        masks: np.ndarray | None,
        multimask_output: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One call of the model on (B, P', ...) prompts: eagerly the first times, then as a traced graph (see
        ModelGraphs)."""
        check_prompt_values(input_points=points, input_labels=labels, input_boxes=boxes)  # a graph cannot check them
        inputs = {
            "input_points": None if points is None else points.astype(np.float32),
            "input_labels": None if labels is None else labels.astype(np.int32),
            "input_boxes": None if boxes is None else boxes.astype(np.float32),
            "input_masks": None if masks is None else masks.astype(np.float32),
        }
        inputs = {name: self._to_native(value) for name, value in inputs.items() if value is not None}
        run = ModelGraphs.of(self.model).get(tuple(inputs), bool(multimask_output), embeddings)
        logits, scores = run(embeddings, *inputs.values())
        return np.asarray(logits, dtype=np.float32), np.asarray(scores, dtype=np.float32)


#: Calls of a kind that ModelGraphs runs eagerly before tracing it.
EAGER_CALLS = 10
#: Image-encoder calls that ModelGraphs runs eagerly before tracing it (a trace of the default model's encoder costs
#: ~2.3 s, about six eager calls; the traced encoder then takes 0.13 s where an eager call takes 0.39 s). Short runs
#: (a few images, a training run's small evaluations on fresh models) stay eager.
ENCODER_EAGER_CALLS = 10


class ModelGraphs:
    """A model's image-encoder call and its prompt encoder + mask decoder call as tf.functions, the latter one per
    kind of call (which prompt inputs are given, one or three masks), shared by every backend of the model.

    Keras runs a decoder call eagerly in ~0.3 s of Python dispatch whatever its size; the traced graph takes a few
    ms. A trace takes a few seconds, about as long as EAGER_CALLS eager calls, so a kind of call runs eagerly that
    many times (a few predictions, a small image's mask generation do not pay it) and is then traced, with unknown
    batch, prompt and point counts (one trace serves them all).

    Args:
        model: a sam_tf.TFSamModel (or transformers' TFSamModel); held weakly.
    """

    _by_model: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, model: tf.keras.Model) -> None:
        self._model = weakref.ref(model)
        self._graphs: dict[tuple, Callable[..., tuple]] = {}
        self._calls: dict[tuple, int] = {}

    @classmethod
    def of(cls, model: tf.keras.Model) -> ModelGraphs:
        if model not in cls._by_model:
            cls._by_model[model] = cls(model)
        return cls._by_model[model]

    def encoder(self, image_size: int) -> Callable[[tf.Tensor], tf.Tensor]:
        """``get_image_embeddings``: eagerly ENCODER_EAGER_CALLS times, then traced for any batch size."""
        key = ("encoder",)
        if key not in self._graphs:
            self._calls[key] = self._calls.get(key, 0) + 1
            if self._calls[key] <= ENCODER_EAGER_CALLS:
                return lambda pixel_values: self._model().get_image_embeddings(pixel_values)
            self._graphs[key] = tf.function(
                lambda pixel_values: self._model().get_image_embeddings(pixel_values),
                input_signature=[tf.TensorSpec((None, 3, image_size, image_size), tf.float32)],
            )
        return self._graphs[key]

    def get(self, names: tuple[str, ...], multimask_output: bool, embeddings: tf.Tensor) -> Callable[..., tuple]:
        """The call for inputs ``names`` (in order, after the embeddings) returning (pred_masks, iou_scores)."""
        key = (names, multimask_output)
        if key not in self._graphs:
            self._calls[key] = self._calls.get(key, 0) + 1
            if self._calls[key] <= EAGER_CALLS:
                return lambda *tensors: self._call(names, multimask_output, *tensors)
            specs = [tf.TensorSpec((None, *embeddings.shape[1:]), embeddings.dtype)]
            specs += [_input_spec(name, low_res_size=4 * int(embeddings.shape[-1])) for name in names]
            self._graphs[key] = tf.function(
                lambda *tensors: self._call(names, multimask_output, *tensors), input_signature=specs
            )
        return self._graphs[key]

    def _call(self, names: tuple[str, ...], multimask_output: bool, embeddings, *tensors) -> tuple:
        outputs = self._model()(
            image_embeddings=embeddings, **dict(zip(names, tensors)), multimask_output=multimask_output
        )
        return outputs.pred_masks, outputs.iou_scores


def _input_spec(name: str, low_res_size: int) -> tf.TensorSpec:
    """The traced signature of a prompt input (B, P and N unknown)."""
    shapes = {
        "input_points": ((None, None, None, 2), tf.float32),
        "input_labels": ((None, None, None), tf.int32),
        "input_boxes": ((None, None, 4), tf.float32),
        "input_masks": ((None, 1, low_res_size, low_res_size), tf.float32),
    }
    return tf.TensorSpec(*shapes[name])
