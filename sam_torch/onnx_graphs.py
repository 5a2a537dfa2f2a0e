"""The torch modules that the ONNX export traces (``sam_torch.onnx_export``): the image encoder alone, the
prompt encoder + mask decoder with Meta's ONNX decoder signature (segment-anything's
``scripts/export_onnx_model.py``), and the same decoder for a batch of prompts returning low-res logits only.

The decoder graph emulates Meta's ``SamOnnxModel`` on our modules: every prompt comes as points (labels 2 and 3
are the box corners, -1 a padding point), the dense prompt is ``has_mask_input`` times the mask embedding plus
``1 - has_mask_input`` times the no-mask embedding, all K mask tokens are returned (Meta's default; the single-mask
token first), and ``masks`` are the logits upscaled like Meta's (bilinear to S, crop to the resized size, bilinear
to ``orig_im_size``). With ``return_single_mask`` one mask is chosen as Meta's does: the single-mask token when
there are more than two points (the padding point counts), otherwise the best multimask output by predicted IoU.

The low-res decoder (``LowResDecoderGraph``) takes P prompts of N points each on one image in one run (the ONNX
backend's ``decode``, 64 prompts per call in the mask generator) and skips Meta's upscaling: it returns
``low_res_masks`` and ``iou_predictions`` of every mask token. Its mask input comes once per prompt or once for all
(M = P or 1).

Shape legend: P prompts, M mask inputs (1 or P), N points, K mask tokens, C embedding channels, g grid, L low-res
side (4 g), S input side, H/W original image size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .prompt_encoder import NOT_A_POINT_LABEL, PAD_LABEL

#: Meta's single-mask choice: the single-mask token wins by this much per point above 2.5 points.
SINGLE_MASK_REWEIGHT = 1000.0


class ImageEncoderGraph(nn.Module):
    """pixel_values (1, 3, S, S) -> image_embeddings (1, C, g, g): the model's vision encoder alone."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.vision_encoder = model.vision_encoder

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.vision_encoder(pixel_values)[0]


class PromptDecoderGraph(nn.Module):
    """Meta's ONNX decoder (``SamOnnxModel``) on our prompt encoder and mask decoder.

    Args:
        model: a sam_torch.SamModel.
        return_single_mask: one mask per prompt, chosen as Meta's export does, instead of all K.
    """

    def __init__(self, model: nn.Module, *, return_single_mask: bool = False) -> None:
        super().__init__()
        self.model = model
        self.image_size = int(model.config.vision_config.image_size)
        self.return_single_mask = bool(return_single_mask)

    def embed_points(self, point_coords: torch.Tensor, point_labels: torch.Tensor) -> torch.Tensor:
        """(1, N, 2) S-frame points and (1, N) float codes -> (1, 1, N, C) sparse embeddings, the numbers of the
        prompt encoder's point and box paths (box corners are the points labelled 2 and 3)."""
        encoder = self.model.prompt_encoder
        side = self.image_size
        embedding = encoder.shared_embedding(point_coords + 0.5, (side, side))
        labels = point_labels[..., None]
        embedding = torch.where(labels == NOT_A_POINT_LABEL, encoder.not_a_point_embed.weight, embedding)
        embedding = torch.where(labels == PAD_LABEL, torch.zeros_like(embedding), embedding)
        for code, point_embed in enumerate(encoder.point_embed):
            embedding = embedding + (labels == code).to(embedding.dtype) * point_embed.weight
        return embedding[:, None]

    def embed_mask(self, mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        """(1, 1, L, L) mask logits and the (1,) switch -> (1, C, g, g) dense embeddings."""
        encoder = self.model.prompt_encoder
        no_mask = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        return has_mask_input * encoder.mask_embed(mask_input) + (1 - has_mask_input) * no_mask

    def select_single_mask(
        self, masks: torch.Tensor, iou: torch.Tensor, num_points: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Meta's choice without control flow: the single-mask token (index 0) above 2.5 points, else the best IoU
        among the multimask outputs. (1, K, L, L), (1, K), (1, 1) -> (1, 1, L, L), (1, 1)."""
        first = (torch.arange(iou.shape[1]) == 0).to(iou.dtype) * SINGLE_MASK_REWEIGHT
        best = torch.argmax(iou + (num_points - 2.5) * first, dim=1)
        return masks[:, best], iou[:, best]

    def upscale(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        """(1, K, L, L) logits -> (1, K, H, W): bilinear to S, crop to the resized size, bilinear to (H, W)."""
        side = self.image_size
        masks = F.interpolate(masks, size=(side, side), mode="bilinear", align_corners=False)
        size = orig_im_size.to(torch.float32)
        resized = torch.floor(size * (side / torch.max(size)) + 0.5).to(torch.int64)
        masks = masks[..., : resized[0], : resized[1]]
        original = orig_im_size.to(torch.int64)
        return F.interpolate(masks, size=(original[0], original[1]), mode="bilinear", align_corners=False)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
        orig_im_size: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Meta's decoder: returns masks (1, K, H, W) logits, iou_predictions (1, K), low_res_masks (1, K, L, L)."""
        sparse = self.embed_points(point_coords, point_labels)
        dense = self.embed_mask(mask_input, has_mask_input)
        positional = self.model.get_image_wide_positional_embeddings()
        masks, iou, _ = self.model.mask_decoder.predict_masks(image_embeddings, positional, sparse, dense)
        masks, iou = masks[:, 0], iou[:, 0]
        if self.return_single_mask:
            num_points = torch.ones_like(point_labels).sum(dim=1, keepdim=True)  # (1, 1), dynamic N
            masks, iou = self.select_single_mask(masks, iou, num_points)
        return self.upscale(masks, orig_im_size), iou, masks


class LowResDecoderGraph(PromptDecoderGraph):
    """P prompts on one image in one run, Meta's prompt format, the low-res logits of every mask token.

    Each prompt is one row of the batch (the image embedding and the dense prompt are expanded to P), so each
    prompt may carry its own mask input.

    Args:
        model: a sam_torch.SamModel.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, C, g, g), (P, N, 2), (P, N), (M, 1, L, L), (M,) -> low_res_masks (P, K, L, L), iou_predictions
        (P, K)."""
        prompts = point_coords.shape[0]
        sparse = self.embed_points(point_coords, point_labels)  # (P, 1, N, C)
        dense = self.embed_mask(mask_input, has_mask_input[:, None, None, None]).expand(prompts, -1, -1, -1)
        images = image_embeddings.expand(prompts, -1, -1, -1)
        positional = self.model.get_image_wide_positional_embeddings().expand(prompts, -1, -1, -1)
        masks, iou, _ = self.model.mask_decoder.predict_masks(images, positional, sparse, dense)
        return masks[:, 0], iou[:, 0]


def decoder_example_inputs(config: Any) -> tuple[torch.Tensor, ...]:
    """Dummy decoder inputs for tracing: five points with every label code, a mask input switched on."""
    vision = config.vision_config
    grid, side = vision.grid_size, vision.image_size
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(1, vision.output_channels, grid, grid, generator=generator),
        torch.randint(0, side, (1, 5, 2), generator=generator).float(),
        torch.tensor([[1.0, 0.0, 2.0, 3.0, -1.0]]),
        torch.randn(1, 1, 4 * grid, 4 * grid, generator=generator),
        torch.tensor([1.0]),
        torch.tensor([0.75 * side, float(side)]),
    )


def lowres_decoder_example_inputs(config: Any) -> tuple[torch.Tensor, ...]:
    """Dummy low-res decoder inputs for tracing: three prompts of five points with every label code, a mask input
    for each, switched on for two of them."""
    embeddings, coords, labels, mask, _, _ = decoder_example_inputs(config)
    generator = torch.Generator().manual_seed(1)
    coords = torch.cat([coords, coords.flip(1), torch.rand(coords.shape, generator=generator) * coords.max()])
    masks = torch.cat([mask, -mask, 0.5 * mask])
    return embeddings, coords, labels.repeat(3, 1), masks, torch.tensor([1.0, 0.0, 1.0])
