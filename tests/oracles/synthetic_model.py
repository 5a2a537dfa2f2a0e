"""dualsam's side of the synthetic decoder: a torch module with SamModel's API whose mask decoder is
synthetic_decoder.synthetic_decode (the real tiny image encoder still makes the embeddings)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from tests.oracles.synthetic_decoder import synthetic_decode


class SyntheticSam(torch.nn.Module):
    """SamModel's API (get_image_embeddings; call with image_embeddings and single-point prompts).

    Args:
        model: a real SamModel, whose config and image encoder are used.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.config = model.config

    def prediction_backend(self):
        """Driven by sam_torch's adapter, like SamModel."""
        from sam_torch import ModelBackend

        return ModelBackend(self)

    def get_image_embeddings(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.get_image_embeddings(pixel_values)

    def forward(self, image_embeddings, input_points, input_labels=None, multimask_output=True, **unused):
        """(1, C, g, g) embeddings and (1, P, 1, 2) points -> pred_masks (1, P, K, L, L), iou_scores (1, P, K)."""
        logits, scores = synthetic_decode(image_embeddings, input_points[0, :, 0, :])
        keep = slice(1, None) if multimask_output else slice(0, 1)
        return SimpleNamespace(pred_masks=logits[None, :, keep], iou_scores=scores[None, :, keep])
