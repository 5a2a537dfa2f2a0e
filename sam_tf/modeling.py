"""TFSamModel: the Segment Anything model with the transformers SamModel API (Keras 3 on TensorFlow, NHWC inside).

Public inputs and outputs use transformers' shapes (channels first); the layers run channels-last.
Shape legend: B images, P prompts per image, N points per prompt, K masks per prompt, C hidden size,
h/w embedding grid (64), S image size (1024).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sam_core.config import SamConfig
from sam_core.model_inputs import check_model_inputs
from sam_core.outputs import SamImageSegmentationOutput
from sam_core.validation import check_prompt_values

from .backbones import build_vision_encoder
from .init import init_sam_weights
from .mask_decoder import MaskDecoder
from .prompt_encoder import PositionalEmbedding, PromptEncoder
from .training.fitting import TrainingMixin

#: Processor outputs that ``model(**inputs)`` accepts and ignores, as transformers does.
PROCESSOR_ONLY_KEYS = ("original_sizes", "reshaped_input_sizes", "labels")
_NCHW_TO_NHWC = (0, 2, 3, 1)
_NHWC_TO_NCHW = (0, 3, 1, 2)


def _as_tensor(name: str, value: Any, dtype: tf.DType | None = None) -> tf.Tensor | None:
    """Accepts a tf tensor, Keras variable or numpy array for a model input; anything else is a TypeError naming it."""
    if value is None:
        return None
    if not (isinstance(value, (np.ndarray, keras.Variable)) or tf.is_tensor(value)):
        raise TypeError(f"{name} must be a tf.Tensor or numpy array, got {type(value).__name__}")
    value = tf.convert_to_tensor(value)
    if dtype is not None and value.dtype != dtype:
        value = tf.cast(value, dtype)
    return value


def _is_eager(*values: tf.Tensor | None) -> bool:
    """Whether the values are concrete: eager execution and no symbolic (traced) tensor among them.

    Inside tf.function / XLA tracing the values are symbolic, so the Python value checks of
    sam_core.validation.check_prompt_values are skipped there (shapes are still checked).
    """
    return tf.executing_eagerly() and not any(v is not None and tf.is_symbolic_tensor(v) for v in values)


def _shape(value: tf.Tensor | None) -> tuple | None:
    return None if value is None else tuple(value.shape)


def _nchw(value: tf.Tensor | None) -> tf.Tensor | None:
    return None if value is None else tf.transpose(value, _NHWC_TO_NCHW)


@keras.saving.register_keras_serializable(package="dualsam")
class TFSamModel(TrainingMixin, keras.Model):
    """Segment Anything: image encoder, prompt encoder and mask decoder.

    Trains with ``compile()`` / ``fit()`` on ``sam_tf.training.tf_dataset`` (see sam_tf.training.fitting).

    Args:
        config: the model configuration; the variables map to transformers' SamModel state-dict keys through
            sam_core.layouts.
    """

    def __init__(self, config: SamConfig, **kwargs: Any) -> None:
        if not isinstance(config, SamConfig):
            raise TypeError(f"config must be a sam_core.SamConfig, got {type(config).__name__}")
        kwargs.setdefault("name", "tf_sam_model")
        super().__init__(**kwargs)
        self.config = config
        self.shared_image_embedding = PositionalEmbedding(config.vision_config, name="shared_image_embedding")
        self.vision_encoder = build_vision_encoder(config.vision_config, name="vision_encoder")
        self.prompt_encoder = PromptEncoder(config, self.shared_image_embedding, name="prompt_encoder")
        self.mask_decoder = MaskDecoder(config.mask_decoder_config, name="mask_decoder")
        self.build()
        init_sam_weights(self, config)

    def build(self, input_shape: Any = None) -> None:
        self.shared_image_embedding.build()
        self.vision_encoder.build()
        self.prompt_encoder.build()
        self.mask_decoder.build()

    @property
    def dtype(self) -> str:
        """The model's dtype: "bfloat16" in the bf16 mode (float32 variables, the image encoder's heavy layers in
        the mixed_bfloat16 policy; sam_tf.precision), else the variables' dtype."""
        from .precision import compute_dtype

        return "bfloat16" if compute_dtype(self) == "bfloat16" else self.variable_dtype

    def get_config(self) -> dict[str, Any]:
        """The config.json dict of the SamConfig (the bf16 mode is not part of it: from_pretrained chooses it)."""
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TFSamModel:
        return cls(SamConfig.from_dict(config))

    def get_image_wide_positional_embeddings(self) -> tf.Tensor:
        """(1, h, w, C) positional encoding of the embedding grid's cell centres."""
        size = self.config.vision_config.grid_size
        centres = (np.arange(size, dtype=np.float32) + 0.5) / size
        grid = np.stack(np.meshgrid(centres, centres, indexing="xy"), axis=-1)  # (h, w, [x, y])
        return self.shared_image_embedding(tf.constant(grid))[None]

    def get_image_embeddings(self, pixel_values: tf.Tensor) -> tf.Tensor:
        """(B, 3, S, S) pixel values -> (B, C, h, w) image embeddings."""
        pixel_values = _as_tensor("pixel_values", pixel_values, self.compute_dtype)
        check_model_inputs(self.config, pixel_values=_shape(pixel_values))
        return _nchw(self.vision_encoder(pixel_values)[0])

    def get_prompt_embeddings(
        self,
        input_points: tf.Tensor | None = None,
        input_labels: tf.Tensor | None = None,
        input_boxes: tf.Tensor | None = None,
        input_masks: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor | None, tf.Tensor]:
        """Sparse (B, P, N', C) and dense (B, C, h, w) prompt embeddings.

        Eager inputs get sam_core's prompt value checks (as in sam_torch); traced (tf.function / XLA) ones do not.
        """
        points, labels, boxes, masks = self._prepare_prompts(input_points, input_labels, input_boxes, input_masks)
        if _is_eager(points, labels, boxes):
            check_prompt_values(input_points=points, input_labels=labels, input_boxes=boxes)
        sparse, dense = self.prompt_encoder(points, labels, boxes, masks)
        return sparse, _nchw(dense)

    def _prepare_prompts(self, input_points, input_labels, input_boxes, input_masks):
        """Tensors of the prompt inputs; masks become channels-last (B, 4h, 4w, 1)."""
        points = _as_tensor("input_points", input_points, self.compute_dtype)
        labels = _as_tensor("input_labels", input_labels, tf.int32)
        boxes = _as_tensor("input_boxes", input_boxes, self.compute_dtype)
        masks = _as_tensor("input_masks", input_masks, self.compute_dtype)
        if masks is not None and masks.shape.rank == 3:
            masks = masks[:, None]
        if points is not None and labels is None:
            labels = tf.ones(tf.shape(points)[:3], dtype=tf.int32)
        return points, labels, boxes, masks

    def _checked_inputs(
        self,
        pixel_values,
        input_points,
        input_labels,
        input_boxes,
        input_masks,
        image_embeddings,
        extra: dict[str, Any],
    ) -> tuple:
        """Tensors of the forward inputs, validated by the shared sam_core checks (same errors as sam_torch).

        Shapes are always checked; prompt values (finite points and boxes, known labels, box corner order) only on
        eager inputs, since under tf.function / XLA tracing they are symbolic.
        """
        unknown = sorted(set(extra) - set(PROCESSOR_ONLY_KEYS))
        if unknown:
            raise TypeError(f"TFSamModel.call() got unexpected keyword arguments: {', '.join(unknown)}")
        pixel_values = _as_tensor("pixel_values", pixel_values, self.compute_dtype)
        image_embeddings = _as_tensor("image_embeddings", image_embeddings, self.compute_dtype)
        points, labels, boxes, masks = self._prepare_prompts(input_points, input_labels, input_boxes, input_masks)
        check_model_inputs(
            self.config,
            pixel_values=_shape(pixel_values),
            image_embeddings=_shape(image_embeddings),
            input_points=_shape(points),
            input_labels=_shape(labels),
            input_boxes=_shape(boxes),
            input_masks=_shape(masks),
        )
        if _is_eager(points, labels, boxes):
            check_prompt_values(input_points=points, input_labels=labels, input_boxes=boxes)
        return pixel_values, image_embeddings, points, labels, boxes, masks

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Validates the inputs before Keras' __call__, which rewrites the message of any error raised inside call,
        so that bad inputs give exactly the shared messages of sam_core.model_inputs."""
        arguments = inspect.signature(self.call).bind(*args, **kwargs).arguments
        names = ("pixel_values", "input_points", "input_labels", "input_boxes", "input_masks", "image_embeddings")
        self._checked_inputs(*(arguments.get(name) for name in names), arguments.get("kwargs", {}))
        return super().__call__(*args, **kwargs)

    def call(
        self,
        pixel_values: tf.Tensor | None = None,
        input_points: tf.Tensor | None = None,
        input_labels: tf.Tensor | None = None,
        input_boxes: tf.Tensor | None = None,
        input_masks: tf.Tensor | None = None,
        image_embeddings: tf.Tensor | None = None,
        multimask_output: bool = True,
        attention_similarity: tf.Tensor | None = None,
        target_embedding: tf.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> SamImageSegmentationOutput | tuple:
        """Predicts masks for the prompts.

        Args:
            pixel_values: (B, 3, S, S), from SamProcessor; or give image_embeddings instead.
            input_points: (B, P, N, 2) xy in the resized 1024 frame.
            input_labels: (B, P, N): 1 foreground, 0 background, -1 not a point, -10 padding (default 1).
            input_boxes: (B, P, 4) xyxy in the resized frame.
            input_masks: (B, 1, 256, 256) mask logits from an earlier prediction.
            image_embeddings: (B, C, h, w) from get_image_embeddings.
            multimask_output: three masks per prompt (True) or the single-mask output.
            attention_similarity: additive token-to-image attention bias (PerSAM).
            target_embedding: (.., C) target concept added to the decoder queries (PerSAM).
            output_attentions: also return vision attention weights and mask-decoder attention outputs.
            output_hidden_states: also return the vision hidden states.
            return_dict: return SamImageSegmentationOutput (default) or a tuple of the fields that are set
                (the tuple is what a tf.function can return).
            **kwargs: only the processor's original_sizes, reshaped_input_sizes and labels, which are ignored.

        Returns:
            SamImageSegmentationOutput with iou_scores (B, P, K) and pred_masks (B, P, K, 256, 256).

        Raises:
            ValueError: a bad shape, or (eager inputs only: inside tf.function / XLA tracing the values are
                symbolic and not checked) a label outside (1, 0, -1, -10), NaN/inf in points or boxes, or a box
                with x2 < x1 or y2 < y1; the messages are sam_torch's.
            TypeError: an input that is not a tensor or numpy array, or an unknown keyword.
        """
        pixel_values, image_embeddings, points, labels, boxes, masks = self._checked_inputs(
            pixel_values, input_points, input_labels, input_boxes, input_masks, image_embeddings, kwargs
        )
        hidden_states = attentions = None
        if pixel_values is not None:
            image_embeddings, hidden_states, attentions = self.vision_encoder(
                pixel_values, output_attentions=bool(output_attentions), output_hidden_states=bool(output_hidden_states)
            )
        else:
            image_embeddings = tf.transpose(image_embeddings, _NCHW_TO_NHWC)
        positional = tf.tile(self.get_image_wide_positional_embeddings(), (tf.shape(image_embeddings)[0], 1, 1, 1))
        masks = None if masks is None else tf.transpose(masks, _NCHW_TO_NHWC)
        sparse, dense = self.prompt_encoder(points, labels, boxes, masks)
        pred_masks, iou_scores, decoder_attentions = self.mask_decoder(
            image_embeddings,
            positional,
            sparse,
            dense,
            multimask_output=multimask_output,
            attention_similarity=_as_tensor("attention_similarity", attention_similarity, self.compute_dtype),
            target_embedding=_as_tensor("target_embedding", target_embedding, self.compute_dtype),
        )
        output = SamImageSegmentationOutput(
            iou_scores=iou_scores,
            pred_masks=pred_masks,
            vision_hidden_states=hidden_states,
            vision_attentions=attentions,
            mask_decoder_attentions=decoder_attentions if output_attentions else None,
        )
        return output if return_dict is None or return_dict else output.to_tuple()

    def export(
        self,
        filepath: str | os.PathLike,
        format: str = "tf_saved_model",
        verbose: bool | None = None,
        input_signature: Any = None,
        **kwargs: Any,
    ) -> None:
        """Writes a SavedModel whose ``serve`` endpoint maps (pixel_values, input_points, input_labels) to
        {"pred_masks", "iou_scores"}; a custom ``input_signature`` goes to keras.Model.export instead."""
        if format != "tf_saved_model" or input_signature is not None:
            return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)
        from .export import export_serving

        export_serving(self, filepath)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        config: SamConfig | str | None = None,
        dtype: Any = None,
        **hub_kwargs: Any,
    ) -> TFSamModel:
        """Loads any SAM checkpoint (``sam_core.checkpoint.read_checkpoint``): a transformers directory
        (tf_model.h5, safetensors, sharded, pytorch_model.bin), a single weight file, Meta's .pth, or a Hub id.

        Args:
            pretrained_model_name_or_path: the directory, file or Hub id.
            config: a SamConfig, preset name or config.json overriding the checkpoint's architecture.
            dtype: "float32" (default), "bfloat16" or "auto" (the checkpoint's; float16 is refused). "bfloat16" is
                the bf16 mode: float32 variables, the image encoder's heavy layers in the mixed_bfloat16 policy and
                float32 islands (sam_tf.precision).
            **hub_kwargs: Hub options (revision, token, cache_dir, local_files_only, ...).

        Raises:
            TypeError: an unknown keyword argument.
            sam_core.weights.CheckpointError: unreadable, or missing / unexpected / mis-shaped keys.
        """
        from .pretrained import load_pretrained

        return load_pretrained(cls, pretrained_model_name_or_path, config=config, dtype=dtype, **hub_kwargs)

    def prediction_backend(self) -> Any:
        """The ``sam_core.backend.PredictionBackend`` that SamPredictor and the mask generator drive."""
        from .backend import ModelBackend

        return ModelBackend(self)

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Writes config.json and tf_model.h5 (atomically) in the transformers 4.x TFSamModel layout."""
        from .pretrained import save_pretrained

        save_pretrained(self, save_directory)
