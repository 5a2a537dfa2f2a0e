"""The PyTorch side of ``sam_core.backend.PredictionBackend``: runs a SamModel on numpy inputs for the predictor,
the mask generator, evaluation and verification (mirrors ``sam_tf/backend.py``).

transformers' SamModel has the same API, so ``ModelBackend(transformers_model)`` works too.

Shape legend: B images, P prompts, N points per prompt, K masks per prompt, C embedding channels, g embedding
grid, L low-res mask side (4 g), S input side.
"""

from __future__ import annotations

import numpy as np
import torch

from sam_core.backend import SlicedDecoding


class ModelBackend(SlicedDecoding):
    """Runs a torch SAM model's image encoder and mask decoder on numpy inputs, without autograd (decode: in prompt
    slices, see sam_core.backend.SlicedDecoding).

    Args:
        model: a sam_torch.SamModel (or transformers' SamModel).

    Attributes:
        image_size: S, the model's input side.
        low_res_size: L, the side of the decoder's mask logits and of mask inputs.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        vision = model.config.vision_config
        self.image_size = int(vision.image_size)
        self.low_res_size = 4 * (int(vision.image_size) // int(vision.patch_size))  # transformers configs too

    def _to_native(self, array: np.ndarray | None) -> torch.Tensor | None:
        """numpy -> a tensor on the model's device (floats in the model's dtype)."""
        if array is None:
            return None
        parameter = next(iter(self.model.parameters()))
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        dtype = parameter.dtype if tensor.is_floating_point() else None
        return tensor.to(device=parameter.device, dtype=dtype)

    def embed(self, pixel_values: np.ndarray) -> torch.Tensor:
        """(B, 3, S, S) float32 pixel values -> (B, C, g, g) image embeddings."""
        with torch.no_grad():
            return self.model.get_image_embeddings(self._to_native(pixel_values))

    def repeat_embeddings(self, embeddings: torch.Tensor, count: int) -> torch.Tensor:
        """(1, C, g, g) embeddings -> (count, C, g, g)."""
        if count == 1:
            return embeddings
        return embeddings.expand(count, *embeddings.shape[1:]).contiguous()

    def _decode_once(
        self,
        embeddings: torch.Tensor,
        *,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        masks: np.ndarray | None,
        multimask_output: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One call of the model on (B, P', ...) prompts, in inference mode (its outputs leave as numpy, so no
        tensor of it meets autograd again; ~15% less per-op overhead than no_grad on a click)."""
        with torch.inference_mode():
            outputs = self.model(
                image_embeddings=embeddings,
                input_points=self._to_native(None if points is None else points.astype(np.float32)),
                input_labels=self._to_native(None if labels is None else labels.astype(np.int64)),
                input_boxes=self._to_native(None if boxes is None else boxes.astype(np.float32)),
                input_masks=self._to_native(None if masks is None else masks.astype(np.float32)),
                multimask_output=bool(multimask_output),
            )
        logits = outputs.pred_masks.detach().float().cpu().numpy()
        return logits, outputs.iou_scores.detach().float().cpu().numpy()
