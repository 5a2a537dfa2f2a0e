"""Weight initialization for training a SamModel from scratch.

``SamModel`` initializes like transformers (every linear / conv weight ~ Normal(0, 0.02)), which only matters
as a placeholder before pretrained weights are loaded. For training from scratch that scale is far too small for
a narrow model: in the default 64-wide decoder each attention value/output pair and each layer of the 3-layer
hypernetwork MLP shrinks its input ~5x, so the fresh model's mask logits are ~1e-4 and do not depend on the
prompt (the mask tokens never see the point). The quickest way down the loss is then a global shift of every
logit towards background, and training IoU collapses to exactly 0 (logits < 0 everywhere) instead of learning
prompt-conditioned masks.

Meta's SAM builds its modules with PyTorch's default initialization (fan-in scaled Kaiming-uniform for linear
and conv layers); ``init_for_training`` restores that, keeping transformers' choices elsewhere (zero absolute
and relative positions, unit layer norms, Normal(0, 1) Fourier features, small token embeddings).
"""

from __future__ import annotations

import torch
from torch import nn

_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


@torch.no_grad()
def init_for_training(model: nn.Module) -> nn.Module:
    """Re-initializes every linear and (transposed) convolution layer of ``model`` with PyTorch's defaults.

    Uses the global torch RNG (seed it first for a deterministic model). Returns ``model``.
    """
    for module in model.modules():
        if isinstance(module, _LAYERS):
            module.reset_parameters()
    return model
