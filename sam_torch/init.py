"""Weight initialization of a fresh SamModel (pretrained loading overwrites all of it)."""

from __future__ import annotations

import torch
from torch import nn

from sam_core.config import SamConfig

from .prompt_encoder import PositionalEmbedding


@torch.no_grad()
def init_sam_weights(model: nn.Module, config: SamConfig) -> None:
    """Normal(0, initializer_range) for linear, conv and embedding weights; zero biases; unit layer norms;
    zero absolute and relative positions; a unit Gaussian Fourier matrix."""
    std = config.initializer_range
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            module.weight.normal_(0.0, std)
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, PositionalEmbedding):
            module.positional_embedding.normal_(0.0, 1.0)
    for name, param in model.named_parameters():
        if name.endswith(("rel_pos_h", "rel_pos_w", "pos_embed")):
            param.zero_()
