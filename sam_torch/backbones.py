"""The vision-encoder registry: which image encoder a SamModel builds for its vision config (PyTorch).

Adding a backbone: one encoder module, its line in VISION_ENCODERS (keyed by its vision config's ``model_type``),
the same in sam_tf/backbones.py, and its weight shapes in sam_core/state_shapes.py. An encoder takes
(B, num_channels, S, S) pixels and returns ((B, output_channels, g, g) embeddings, hidden states or None,
attentions or None), with g = ``vision_config.grid_size``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from sam_core.backbones import registered
from sam_core.config import SamVisionConfig

from .image_encoder import VisionEncoder

#: Vision encoder class per vision-config ``model_type``.
VISION_ENCODERS: dict[str, type[nn.Module]] = {
    SamVisionConfig.model_type: VisionEncoder,
}


def build_vision_encoder(vision_config: SamVisionConfig, **kwargs: Any) -> nn.Module:
    """Builds the registered vision encoder for ``vision_config.model_type``.

    Args:
        vision_config: the vision config; its ``model_type`` selects the encoder class.
        **kwargs: passed on to the encoder's constructor.

    Returns:
        The encoder module, mapping (B, 3, S, S) pixels to (B, output_channels, g, g) embeddings.

    Raises:
        ValueError: naming the unknown ``model_type`` and the registered ones.
    """
    return registered(VISION_ENCODERS, vision_config, "vision encoder")(vision_config, **kwargs)
