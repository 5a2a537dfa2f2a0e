"""SamModel: the Segment Anything model with the transformers SamModel API (PyTorch, NCHW).

Shape legend: B images, P prompts per image, N points per prompt, K masks per prompt, C hidden size,
h/w embedding grid (64), S image size (1024).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from sam_core.config import SamConfig
from sam_core.model_inputs import check_model_inputs
from sam_core.outputs import SamImageSegmentationOutput
from sam_core.validation import check_prompt_values

from .backbones import build_vision_encoder
from .init import init_sam_weights
from .mask_decoder import MaskDecoder
from .prompt_encoder import PositionalEmbedding, PromptEncoder

#: Processor outputs that ``model(**inputs)`` accepts and ignores, as transformers does.
PROCESSOR_ONLY_KEYS = ("original_sizes", "reshaped_input_sizes", "labels")


def _as_tensor(name: str, value: Any, dtype: torch.dtype | None = None) -> torch.Tensor | None:
    """Accepts a tensor or numpy array for a model input; anything else is a TypeError naming it."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}")
    if dtype is not None and value.dtype != dtype:
        value = value.to(dtype)
    return value


class SamModel(nn.Module):
    """Segment Anything: image encoder, prompt encoder and mask decoder.

    Args:
        config: the model configuration; the state-dict keys are those of transformers' SamModel.
    """

    def __init__(self, config: SamConfig) -> None:
        super().__init__()
        if not isinstance(config, SamConfig):
            raise TypeError(f"config must be a sam_core.SamConfig, got {type(config).__name__}")
        self.config = config
        self.shared_image_embedding = PositionalEmbedding(config.vision_config)
        self.vision_encoder = build_vision_encoder(config.vision_config)
        self.prompt_encoder = PromptEncoder(config, self.shared_image_embedding)
        self.mask_decoder = MaskDecoder(config.mask_decoder_config)
        init_sam_weights(self, config)
        #: (table version, storage, device, dtype) -> the grid's positional encoding, reused outside autograd.
        self._grid_positional: tuple[tuple, torch.Tensor] | None = None
        self.eval()

    @property
    def device(self) -> torch.device:
        return self.shared_image_embedding.positional_embedding.device

    @property
    def dtype(self) -> torch.dtype:
        """The model's dtype: torch.bfloat16 in the bf16 mode (float32 weights, the image encoder's GEMMs in
        bfloat16; sam_torch.precision), else the weights' dtype."""
        return self.vision_encoder.autocast_dtype or self.weight_dtype

    @property
    def weight_dtype(self) -> torch.dtype:
        """The weights' dtype, which float inputs are cast to (float32 in the bf16 mode)."""
        return self.shared_image_embedding.positional_embedding.dtype

    def get_image_wide_positional_embeddings(self) -> torch.Tensor:
        """(1, C, h, w) positional encoding of the embedding grid's cell centres.

        Outside autograd (no_grad, inference_mode) it is computed once and reused while the positional table is
        unchanged (its version counter, storage, device and dtype): every decoder call needs it, and for a small
        model computing it again was ~10% of a click. Under autograd, tracing or compiling it is computed afresh.
        """
        table = self.shared_image_embedding.positional_embedding
        reusable = not torch.is_grad_enabled() and not torch.jit.is_tracing() and not torch.compiler.is_compiling()
        key = (table._version, table.data_ptr(), table.device, table.dtype)
        cached = self._grid_positional
        if reusable and cached is not None and cached[0] == key:
            return cached[1]
        size = self.config.vision_config.grid_size
        centres = (torch.arange(size, device=self.device, dtype=self.weight_dtype) + 0.5) / size
        grid = torch.stack(torch.meshgrid(centres, centres, indexing="xy"), dim=-1)  # (h, w, [x, y])
        positional = self.shared_image_embedding(grid).permute(2, 0, 1).unsqueeze(0)
        if reusable:
            self._grid_positional = (key, positional)
        return positional

    @torch.no_grad()
    def get_image_embeddings(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pixel values -> (B, C, h, w) image embeddings."""
        pixel_values = _as_tensor("pixel_values", pixel_values, self.weight_dtype)
        check_model_inputs(self.config, pixel_values=tuple(pixel_values.shape))
        return self.vision_encoder(pixel_values)[0]

    @torch.no_grad()
    def get_prompt_embeddings(
        self,
        input_points: torch.Tensor | None = None,
        input_labels: torch.Tensor | None = None,
        input_boxes: torch.Tensor | None = None,
        input_masks: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Sparse (B, P, N', C) and dense (B, C, h, w) prompt embeddings."""
        points, labels, boxes, masks = self._prepare_prompts(input_points, input_labels, input_boxes, input_masks)
        check_prompt_values(input_points=points, input_labels=labels, input_boxes=boxes)
        return self.prompt_encoder(points, labels, boxes, masks)

    def _prepare_prompts(self, input_points, input_labels, input_boxes, input_masks):
        points = _as_tensor("input_points", input_points, self.weight_dtype)
        labels = _as_tensor("input_labels", input_labels, torch.int64)
        boxes = _as_tensor("input_boxes", input_boxes, self.weight_dtype)
        masks = _as_tensor("input_masks", input_masks, self.weight_dtype)
        if masks is not None and masks.dim() == 3:
            masks = masks.unsqueeze(1)
        if points is not None and labels is None:
            labels = torch.ones(points.shape[:3], dtype=torch.int64, device=points.device)
        return points, labels, boxes, masks

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_points: torch.Tensor | None = None,
        input_labels: torch.Tensor | None = None,
        input_boxes: torch.Tensor | None = None,
        input_masks: torch.Tensor | None = None,
        image_embeddings: torch.Tensor | None = None,
        multimask_output: bool = True,
        attention_similarity: torch.Tensor | None = None,
        target_embedding: torch.Tensor | None = None,
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
            return_dict: return SamImageSegmentationOutput (default) or a tuple of the fields that are set.
            **kwargs: only the processor's original_sizes, reshaped_input_sizes and labels, which are ignored.

        Returns:
            SamImageSegmentationOutput with iou_scores (B, P, K) and pred_masks (B, P, K, 256, 256).
        """
        unknown = sorted(set(kwargs) - set(PROCESSOR_ONLY_KEYS))
        if unknown:
            raise TypeError(f"SamModel.forward() got unexpected keyword arguments: {', '.join(unknown)}")
        pixel_values = _as_tensor("pixel_values", pixel_values, self.weight_dtype)
        image_embeddings = _as_tensor("image_embeddings", image_embeddings, self.weight_dtype)
        points, labels, boxes, masks = self._prepare_prompts(input_points, input_labels, input_boxes, input_masks)
        shape = lambda t: None if t is None else tuple(t.shape)  # noqa: E731
        check_model_inputs(
            self.config,
            pixel_values=shape(pixel_values),
            image_embeddings=shape(image_embeddings),
            input_points=shape(points),
            input_labels=shape(labels),
            input_boxes=shape(boxes),
            input_masks=shape(masks),
        )
        check_prompt_values(input_points=points, input_labels=labels, input_boxes=boxes)
        hidden_states = attentions = None
        if pixel_values is not None:
            image_embeddings, hidden_states, attentions = self.vision_encoder(
                pixel_values, output_attentions=bool(output_attentions), output_hidden_states=bool(output_hidden_states)
            )
        positional = self.get_image_wide_positional_embeddings().repeat(image_embeddings.shape[0], 1, 1, 1)
        sparse, dense = self.prompt_encoder(points, labels, boxes, masks)
        pred_masks, iou_scores, decoder_attentions = self.mask_decoder(
            image_embeddings,
            positional,
            sparse,
            dense,
            multimask_output,
            attention_similarity=_as_tensor("attention_similarity", attention_similarity, self.weight_dtype),
            target_embedding=_as_tensor("target_embedding", target_embedding, self.weight_dtype),
        )
        output = SamImageSegmentationOutput(
            iou_scores=iou_scores,
            pred_masks=pred_masks,
            vision_hidden_states=hidden_states,
            vision_attentions=attentions,
            mask_decoder_attentions=decoder_attentions if output_attentions else None,
        )
        return output if return_dict is None or return_dict else output.to_tuple()

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        config: SamConfig | str | None = None,
        dtype: Any = None,
        torch_dtype: Any = None,
        **hub_kwargs: Any,
    ) -> SamModel:
        """Loads any SAM checkpoint (``sam_core.checkpoint.read_checkpoint``): a transformers directory
        (safetensors, sharded, pytorch_model.bin, tf_model.h5), a single weight file, Meta's .pth, or a Hub id.

        Args:
            pretrained_model_name_or_path: the directory, file or Hub id.
            config: a SamConfig, preset name or config.json overriding the checkpoint's architecture.
            dtype: "float32" (default), "bfloat16", "float16", "auto" (the checkpoint's) or a torch dtype.
                "bfloat16" is the bf16 mode: float32 weights, the image encoder's GEMMs in bfloat16 and float32
                islands (sam_torch.precision); "float16" casts every weight.
            torch_dtype: transformers' name for ``dtype``.
            **hub_kwargs: Hub options (revision, token, cache_dir, local_files_only, ...).

        Raises:
            TypeError: an unknown keyword argument, or both dtype and torch_dtype.
            sam_core.weights.CheckpointError: unreadable, or missing / unexpected / mis-shaped keys.
        """
        from .pretrained import load_pretrained

        if dtype is not None and torch_dtype is not None:
            raise TypeError("SamModel.from_pretrained() takes dtype or torch_dtype, not both")
        dtype = dtype if dtype is not None else torch_dtype
        return load_pretrained(cls, pretrained_model_name_or_path, config=config, dtype=dtype, **hub_kwargs)

    def prediction_backend(self) -> Any:
        """The ``sam_core.backend.PredictionBackend`` that SamPredictor and the mask generator drive."""
        from .backend import ModelBackend

        return ModelBackend(self)

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Writes config.json and model.safetensors (atomically) in the transformers layout."""
        from .pretrained import save_pretrained

        save_pretrained(self, save_directory)
