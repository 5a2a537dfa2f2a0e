"""Canonical state-dict keys and shapes of a SAM model, computed from its config alone (pure Python).

The keys are transformers' ``SamModel`` state-dict keys and the shapes are torch layouts (Linear ``(out, in)``,
Conv ``(out, in, kh, kw)``, ConvTranspose ``(in, out, kh, kw)``), tied copies included: the result equals
``{k: tuple(v.shape) for k, v in sam_torch.SamModel(config).state_dict().items()}``, key order too, without
needing torch or TensorFlow.

Another vision backbone adds a function to ``VISION_BACKBONES`` under its vision config's ``model_type``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backbones import registered
from .config import SamConfig, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig

Shapes = dict[str, tuple[int, ...]]


def _linear(prefix: str, fan_in: int, fan_out: int, bias: bool = True) -> Shapes:
    shapes = {f"{prefix}.weight": (fan_out, fan_in)}
    if bias:
        shapes[f"{prefix}.bias"] = (fan_out,)
    return shapes


def _norm(prefix: str, channels: int) -> Shapes:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,)}


def _conv(prefix: str, fan_in: int, fan_out: int, kernel: int, bias: bool = True, transpose: bool = False) -> Shapes:
    shapes = {f"{prefix}.weight": (fan_in, fan_out, kernel, kernel) if transpose else (fan_out, fan_in, kernel, kernel)}
    if bias:
        shapes[f"{prefix}.bias"] = (fan_out,)
    return shapes


def _feed_forward(prefix: str, fan_in: int, hidden: int, fan_out: int, num_layers: int) -> Shapes:
    """``FeedForward``: proj_in, proj_out, then the ``num_layers - 2`` inner layers."""
    shapes = {**_linear(f"{prefix}.proj_in", fan_in, hidden), **_linear(f"{prefix}.proj_out", hidden, fan_out)}
    for i in range(num_layers - 2):
        shapes.update(_linear(f"{prefix}.layers.{i}", hidden, hidden))
    return shapes


def vit_shapes(config: SamVisionConfig) -> Shapes:
    """The SAM ViT (``sam_vision_model``): keys relative to ``vision_encoder.``.

    Args:
        config: the vision config. Layers in ``global_attn_indexes`` (or all, when ``window_size`` is 0) attend
            over the whole grid, so their relative-position tables span ``2 * grid - 1`` offsets, the windowed
            ones ``2 * window_size - 1``.
    """
    hidden, grid = config.hidden_size, config.image_size // config.patch_size
    head_dim = hidden // config.num_attention_heads
    shapes: Shapes = {"pos_embed": (1, grid, grid, hidden)} if config.use_abs_pos else {}
    shapes.update(_conv("patch_embed.projection", config.num_channels, hidden, config.patch_size))
    for i in range(config.num_hidden_layers):
        layer = f"layers.{i}"
        side = grid if i in config.global_attn_indexes or config.window_size == 0 else config.window_size
        shapes.update(_norm(f"{layer}.layer_norm1", hidden))
        if config.use_rel_pos:
            shapes[f"{layer}.attn.rel_pos_h"] = (2 * side - 1, head_dim)
            shapes[f"{layer}.attn.rel_pos_w"] = (2 * side - 1, head_dim)
        shapes.update(_linear(f"{layer}.attn.qkv", hidden, 3 * hidden, bias=config.qkv_bias))
        shapes.update(_linear(f"{layer}.attn.proj", hidden, hidden))
        shapes.update(_norm(f"{layer}.layer_norm2", hidden))
        shapes.update(_linear(f"{layer}.mlp.lin1", hidden, config.mlp_dim))
        shapes.update(_linear(f"{layer}.mlp.lin2", config.mlp_dim, hidden))
    out = config.output_channels
    shapes.update(_conv("neck.conv1", hidden, out, 1, bias=False))
    shapes.update(_norm("neck.layer_norm1", out))
    shapes.update(_conv("neck.conv2", out, out, 3, bias=False))
    shapes.update(_norm("neck.layer_norm2", out))
    return shapes


#: Vision config ``model_type`` -> function giving that backbone's shapes (keys relative to ``vision_encoder.``).
VISION_BACKBONES: dict[str, Callable[[Any], Shapes]] = {SamVisionConfig.model_type: vit_shapes}


def vision_encoder_shapes(vision_config: SamVisionConfig) -> Shapes:
    """The ``vision_encoder.*`` keys of the backbone that ``vision_config.model_type`` names.

    Raises:
        ValueError: no entry of ``VISION_BACKBONES`` for that model_type.
    """
    shapes = registered(VISION_BACKBONES, vision_config, "state shapes")(vision_config)
    return {f"vision_encoder.{k}": v for k, v in shapes.items()}


def prompt_encoder_shapes(prompt_config: SamPromptEncoderConfig, num_pos_feats: int) -> Shapes:
    """The ``prompt_encoder.*`` keys, the tied Gaussian matrix ``shared_embedding.positional_embedding`` included.

    Args:
        prompt_config: the prompt encoder config.
        num_pos_feats: the vision config's ``num_pos_feats`` (columns of the shared Fourier matrix).
    """
    hidden, channels = prompt_config.hidden_size, prompt_config.mask_input_channels
    inner = channels // 4
    shapes: Shapes = {"prompt_encoder.shared_embedding.positional_embedding": (2, num_pos_feats)}
    shapes.update(_conv("prompt_encoder.mask_embed.conv1", 1, inner, 2))
    shapes.update(_conv("prompt_encoder.mask_embed.conv2", inner, channels, 2))
    shapes.update(_conv("prompt_encoder.mask_embed.conv3", channels, hidden, 1))
    shapes.update(_norm("prompt_encoder.mask_embed.layer_norm1", inner))
    shapes.update(_norm("prompt_encoder.mask_embed.layer_norm2", channels))
    shapes["prompt_encoder.no_mask_embed.weight"] = (1, hidden)
    for i in range(prompt_config.num_point_embeddings):
        shapes[f"prompt_encoder.point_embed.{i}.weight"] = (1, hidden)
    shapes["prompt_encoder.not_a_point_embed.weight"] = (1, hidden)
    return shapes


def _attention(prefix: str, hidden: int, internal: int) -> Shapes:
    shapes: Shapes = {}
    for name in ("q_proj", "k_proj", "v_proj"):
        shapes.update(_linear(f"{prefix}.{name}", hidden, internal))
    shapes.update(_linear(f"{prefix}.out_proj", internal, hidden))
    return shapes


def mask_decoder_shapes(config: SamMaskDecoderConfig) -> Shapes:
    """The ``mask_decoder.*`` keys: two-way transformer, upscaling, hypernetwork MLPs and IoU head.

    Args:
        config: the mask decoder config.
    """
    hidden, tokens = config.hidden_size, config.num_multimask_outputs + 1
    cross = hidden // config.attention_downsample_rate
    prefix = "mask_decoder"
    shapes: Shapes = {f"{prefix}.iou_token.weight": (1, hidden), f"{prefix}.mask_tokens.weight": (tokens, hidden)}
    for i in range(config.num_hidden_layers):
        block = f"{prefix}.transformer.layers.{i}"
        shapes.update(_attention(f"{block}.self_attn", hidden, hidden))
        shapes.update(_norm(f"{block}.layer_norm1", hidden))
        shapes.update(_attention(f"{block}.cross_attn_token_to_image", hidden, cross))
        shapes.update(_norm(f"{block}.layer_norm2", hidden))
        shapes.update(_linear(f"{block}.mlp.lin1", hidden, config.mlp_dim))
        shapes.update(_linear(f"{block}.mlp.lin2", config.mlp_dim, hidden))
        shapes.update(_norm(f"{block}.layer_norm3", hidden))
        shapes.update(_norm(f"{block}.layer_norm4", hidden))
        shapes.update(_attention(f"{block}.cross_attn_image_to_token", hidden, cross))
    shapes.update(_attention(f"{prefix}.transformer.final_attn_token_to_image", hidden, cross))
    shapes.update(_norm(f"{prefix}.transformer.layer_norm_final_attn", hidden))
    shapes.update(_conv(f"{prefix}.upscale_conv1", hidden, hidden // 4, 2, transpose=True))
    shapes.update(_conv(f"{prefix}.upscale_conv2", hidden // 4, hidden // 8, 2, transpose=True))
    shapes.update(_norm(f"{prefix}.upscale_layer_norm", hidden // 4))
    for i in range(tokens):
        shapes.update(_feed_forward(f"{prefix}.output_hypernetworks_mlps.{i}", hidden, hidden, hidden // 8, 3))
    shapes.update(_feed_forward(f"{prefix}.iou_prediction_head", hidden, config.iou_head_hidden_dim, tokens,
                                config.iou_head_depth))  # fmt: skip
    return shapes


def expected_shapes(config: SamConfig) -> Shapes:
    """Every canonical key of the model ``config`` describes, with its torch-layout shape.

    Args:
        config: the full SAM config.

    Returns:
        Key -> shape, in the order of torch's ``state_dict()``, the tied copy
        ``prompt_encoder.shared_embedding.positional_embedding`` included.

    Raises:
        ValueError: the vision config's model_type has no entry in ``VISION_BACKBONES``.
    """
    vision = config.vision_config
    shapes: Shapes = {"shared_image_embedding.positional_embedding": (2, vision.num_pos_feats)}
    shapes.update(vision_encoder_shapes(vision))
    shapes.update(prompt_encoder_shapes(config.prompt_encoder_config, vision.num_pos_feats))
    shapes.update(mask_decoder_shapes(config.mask_decoder_config))
    return shapes
