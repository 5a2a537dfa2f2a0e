"""The SAM prompt encoder: points, boxes and masks to sparse and dense embeddings (PyTorch).

Shape legend: B images, P prompts per image, N points per prompt, C hidden size (256), h/w embedding grid (64).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sam_core.config import SamConfig, SamPromptEncoderConfig, SamVisionConfig

from .layers import LayerNorm2d, get_activation

PAD_LABEL = -10
NOT_A_POINT_LABEL = -1


class PositionalEmbedding(nn.Module):
    """Random Fourier features of 2-D coordinates (the Gaussian matrix is the ``positional_embedding`` buffer)."""

    def __init__(self, config: SamVisionConfig) -> None:
        super().__init__()
        self.register_buffer("positional_embedding", torch.zeros(2, config.num_pos_feats))

    def forward(self, coordinates: torch.Tensor, input_shape: tuple[int, int] | None = None) -> torch.Tensor:
        """(..., 2) xy coordinates -> (..., 2*num_pos_feats) [sin, cos] features.

        Args:
            coordinates: xy, in [0, 1] unless ``input_shape`` (height, width) is given to normalize them.
            input_shape: the frame the coordinates are in.
        """
        if input_shape is not None:
            scale = torch.tensor([input_shape[1], input_shape[0]], dtype=coordinates.dtype, device=coordinates.device)
            coordinates = coordinates / scale
        coordinates = (2 * coordinates - 1).to(self.positional_embedding.dtype)
        projected = 2 * math.pi * (coordinates @ self.positional_embedding)
        return torch.cat([torch.sin(projected), torch.cos(projected)], dim=-1)


class MaskEmbedding(nn.Module):
    """Downscales (B, 1, 4h, 4w) mask logits to (B, C, h, w) dense embeddings."""

    def __init__(self, config: SamPromptEncoderConfig) -> None:
        super().__init__()
        inner = config.mask_input_channels // 4
        self.activation = get_activation(config.hidden_act)
        self.conv1 = nn.Conv2d(1, inner, kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(inner, config.mask_input_channels, kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(config.mask_input_channels, config.hidden_size, kernel_size=1)
        self.layer_norm1 = LayerNorm2d(inner, eps=config.layer_norm_eps)
        self.layer_norm2 = LayerNorm2d(config.mask_input_channels, eps=config.layer_norm_eps)

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation(self.layer_norm1(self.conv1(masks)))
        hidden_states = self.activation(self.layer_norm2(self.conv2(hidden_states)))
        return self.conv3(hidden_states)


class PromptEncoder(nn.Module):
    """Embeds point, box and mask prompts.

    Args:
        config: the full SamConfig (the positional embedding reads the vision config).
        shared_embedding: the model's PositionalEmbedding, shared with the image-wide positional encoding.
    """

    def __init__(self, config: SamConfig, shared_embedding: PositionalEmbedding) -> None:
        super().__init__()
        prompt_config = config.prompt_encoder_config
        self.shared_embedding = shared_embedding
        self.mask_embed = MaskEmbedding(prompt_config)
        self.no_mask_embed = nn.Embedding(1, prompt_config.hidden_size)
        grid = prompt_config.image_embedding_size
        self.image_embedding_size = (grid, grid)
        self.input_image_size = prompt_config.image_size
        self.point_embed = nn.ModuleList(
            nn.Embedding(1, prompt_config.hidden_size) for _ in range(prompt_config.num_point_embeddings)
        )
        self.not_a_point_embed = nn.Embedding(1, prompt_config.hidden_size)

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """(B, P, N, 2) points and (B, P, N) labels -> (B, P, N(+1), C); ``pad`` appends a not-a-point."""
        points = points + 0.5  # pixel centres
        if pad:
            points = torch.cat([points, points.new_zeros(*points.shape[:2], 1, 2)], dim=2)
            labels = torch.cat([labels, labels.new_full((*labels.shape[:2], 1), NOT_A_POINT_LABEL)], dim=2)
        size = (self.input_image_size, self.input_image_size)
        embedding = self.shared_embedding(points, size)
        labels = labels[..., None]
        embedding = torch.where(labels == NOT_A_POINT_LABEL, self.not_a_point_embed.weight, embedding)
        embedding = torch.where(labels == PAD_LABEL, torch.zeros_like(embedding), embedding)
        embedding = embedding + (labels == 0) * self.point_embed[0].weight
        return embedding + (labels == 1) * self.point_embed[1].weight

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """(B, P, 4) xyxy boxes -> (B, P, 2, C) corner embeddings."""
        corners = (boxes + 0.5).reshape(*boxes.shape[:2], 2, 2)
        embedding = self.shared_embedding(corners, (self.input_image_size, self.input_image_size))
        corner_types = torch.cat([self.point_embed[2].weight, self.point_embed[3].weight], dim=0)
        return embedding + corner_types

    def forward(
        self,
        input_points: torch.Tensor | None,
        input_labels: torch.Tensor | None,
        input_boxes: torch.Tensor | None,
        input_masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Returns sparse (B, P, N', C) embeddings (None without points or boxes) and dense (B, C, h, w) ones."""
        sparse = None
        batch = 1
        if input_points is not None:
            batch = input_points.shape[0]
            sparse = self._embed_points(input_points, input_labels, pad=input_boxes is None)
        if input_boxes is not None:
            batch = input_boxes.shape[0]
            boxes = self._embed_boxes(input_boxes)
            sparse = boxes if sparse is None else torch.cat([sparse, boxes], dim=2)
        if input_masks is not None:
            dense = self.mask_embed(input_masks)
        else:
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, *self.image_embedding_size)
        return sparse, dense
