"""The SAM mask decoder: two-way transformer, upscaling, hypernetwork masks and IoU head (PyTorch, NCHW).

Shape legend: B images, P prompts per image, K masks (num_multimask_outputs + 1 tokens), C hidden size,
h/w embedding grid (64), H/W = 4h/4w mask grid (256).
"""

from __future__ import annotations

import torch
from torch import nn

from sam_core.config import SamMaskDecoderConfig

from .layers import FeedForward, LayerNorm2d
from .transformer import TwoWayTransformer


class MaskDecoder(nn.Module):
    """Predicts masks and their IoU from image and prompt embeddings."""

    def __init__(self, config: SamMaskDecoderConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.num_multimask_outputs = config.num_multimask_outputs
        self.num_mask_tokens = config.num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, hidden)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, hidden)
        self.transformer = TwoWayTransformer(config)
        self.upscale_conv1 = nn.ConvTranspose2d(hidden, hidden // 4, kernel_size=2, stride=2)
        self.upscale_conv2 = nn.ConvTranspose2d(hidden // 4, hidden // 8, kernel_size=2, stride=2)
        self.upscale_layer_norm = LayerNorm2d(hidden // 4)
        self.activation = nn.GELU()
        self.output_hypernetworks_mlps = nn.ModuleList(
            FeedForward(input_dim=hidden, hidden_dim=hidden, output_dim=hidden // 8, num_layers=3)
            for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = FeedForward(
            input_dim=hidden,
            hidden_dim=config.iou_head_hidden_dim,
            output_dim=self.num_mask_tokens,
            num_layers=config.iou_head_depth,
        )

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_positional_embeddings: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor | None,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        attention_similarity: torch.Tensor | None = None,
        target_embedding: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Decodes masks.

        Args:
            image_embeddings, image_positional_embeddings, sparse_prompt_embeddings, dense_prompt_embeddings,
            attention_similarity, target_embedding: see :meth:`predict_masks`.
            multimask_output: return the K-1 multimask outputs instead of the single-mask token.

        Returns:
            masks (B, P, K', H, W) logits, iou (B, P, K'), and the blocks' attention outputs.
        """
        masks, iou_pred, block_outputs = self.predict_masks(
            image_embeddings,
            image_positional_embeddings,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            attention_similarity=attention_similarity,
            target_embedding=target_embedding,
        )
        mask_slice = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, :, mask_slice], iou_pred[:, :, mask_slice], block_outputs

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_positional_embeddings: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor | None,
        dense_prompt_embeddings: torch.Tensor,
        attention_similarity: torch.Tensor | None = None,
        target_embedding: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Decodes the masks of every mask token (Meta's ``predict_masks``; the ONNX export's four outputs).

        Args:
            image_embeddings: (B, C, h, w).
            image_positional_embeddings: (B, C, h, w).
            sparse_prompt_embeddings: (B, P, N, C) or None.
            dense_prompt_embeddings: (B, C, h, w).
            attention_similarity, target_embedding: PerSAM inputs, see TwoWayTransformer.

        Returns:
            masks (B, P, K, H, W) logits, iou (B, P, K), and the blocks' attention outputs.
        """
        batch, channels, height, width = image_embeddings.shape
        prompts = sparse_prompt_embeddings.shape[1] if sparse_prompt_embeddings is not None else 1
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = output_tokens.repeat(batch, prompts, 1, 1)
        if sparse_prompt_embeddings is not None:
            tokens = torch.cat([tokens, sparse_prompt_embeddings.to(tokens.dtype)], dim=2)

        queries, keys, block_outputs = self.transformer(
            tokens,
            image_embeddings + dense_prompt_embeddings,
            image_positional_embeddings,
            attention_similarity,
            target_embedding,
        )
        iou_token_out = queries[:, :, 0, :]
        mask_tokens_out = queries[:, :, 1 : 1 + self.num_mask_tokens, :]

        keys = keys.expand(batch, prompts, *keys.shape[2:])
        grid = keys.reshape(batch * prompts, height, width, channels).permute(0, 3, 1, 2)  # channels-last, no copy
        upscaled = self.activation(self.upscale_layer_norm(self.upscale_conv1(grid)))
        upscaled = self.activation(self.upscale_conv2(upscaled))
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, :, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=2
        )
        _, up_channels, up_height, up_width = upscaled.shape
        upscaled = upscaled.reshape(batch, prompts, up_channels, up_height * up_width)
        masks = (hyper_in @ upscaled).reshape(batch, prompts, -1, up_height, up_width)
        iou_pred = self.iou_prediction_head(iou_token_out)
        return masks, iou_pred, block_outputs
