"""The SAM image encoder: a windowed ViT with decomposed relative positions and a conv neck (PyTorch, NCHW).

Shape legend: B batch, C hidden size, H/W token grid (image_size / patch_size), T tokens, N heads, D head dim.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sam_core.config import SamVisionConfig
from sam_core.model_inputs import check_pixel_values_shape

from .fast_gemm import FastLinear
from .layers import LayerNorm2d, MLPBlock
from .precision import autocast, float32_island
from .relative_position import decomposed_rel_terms, rel_pos_bias

#: Queries per block of the relative-position attention: its (B, N, Q, T) bias block is 50 MB for a global ViT-B
#: layer, where the whole bias would be 805 MB. Blocks change speed and memory, not results.
QUERY_CHUNK_SIZE = 256


def attention_probs(
    query: torch.Tensor, key: torch.Tensor, rel_h: torch.Tensor | None, rel_w: torch.Tensor | None
) -> torch.Tensor:
    """softmax(query key^T + relative-position bias), the explicit weights (output_attentions).

    Args:
        query: (B, N, Q, D), already scaled.
        key: (B, N, T, D).
        rel_h: (B, N, Q, H) and rel_w (B, N, Q, W) terms of these queries, or both None.

    Returns:
        (B, N, Q, T) weights.
    """
    logits = query @ key.transpose(-2, -1)
    if rel_h is not None:
        logits = logits + rel_pos_bias(rel_h, rel_w)
    return torch.softmax(logits, dim=-1, dtype=torch.float32).to(query.dtype)


def chunked_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    rel_h: torch.Tensor | None,
    rel_w: torch.Tensor | None,
    chunk_size: int,
) -> torch.Tensor:
    """softmax(query key^T + bias) value through scaled_dot_product_attention, the relative-position bias given as
    its additive mask one block of at most chunk_size query rows at a time (of one batch item, or of several whole
    ones when T < chunk_size), so no (B, N, T, T) tensor is made. For ViT-B's 14x14 windows a block is one window's
    whole bias (1.8 MB, in cache); for its global layers, 256 queries of one image (50 MB, not 805).

    Outside autograd the bias blocks are written into one reused buffer (fresh 50 MB blocks cost page faults).

    Args:
        query: (B, N, T, D), already scaled; key, value: (B, N, T, D).
        rel_h: (B, N, T, H) and rel_w (B, N, T, W), or both None.
        chunk_size: the most queries per block.

    Returns:
        (B, N, T, D).
    """
    if rel_h is None:
        return F.scaled_dot_product_attention(query, key, value, scale=1.0)
    batch, heads, tokens, _ = query.shape
    rows = min(chunk_size, tokens)  # queries per block
    items = max(1, chunk_size // tokens)  # batch items per block: at most chunk_size query rows in all
    differentiable = torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value, rel_h, rel_w))
    buffer = None
    if not differentiable:
        buffer = rel_h.new_empty(min(items, batch), heads, rows, rel_h.shape[-1], rel_w.shape[-1])
    groups = []
    for first in range(0, batch, items):
        group = slice(first, min(first + items, batch))
        blocks = []
        for start in range(0, tokens, rows):
            queries = slice(start, min(start + rows, tokens))
            out = None if buffer is None else buffer[: group.stop - group.start, :, : queries.stop - queries.start]
            bias = rel_pos_bias(rel_h[group, :, queries], rel_w[group, :, queries], out=out)
            block = query[group, :, queries]
            with float32_island(bias):  # autocast would round the float32 bias to bfloat16
                output = F.scaled_dot_product_attention(block, key[group], value[group], attn_mask=bias, scale=1.0)
            blocks.append(output)
        groups.append(blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=2))
    return groups[0] if len(groups) == 1 else torch.cat(groups, dim=0)


class PatchEmbeddings(nn.Module):
    """Non-overlapping patch projection: (B, 3, S, S) -> (B, S/p, S/p, C) channels-last tokens."""

    def __init__(self, config: SamVisionConfig) -> None:
        super().__init__()
        self.image_size = config.image_size
        self.num_channels = config.num_channels
        self.projection = nn.Conv2d(
            config.num_channels, config.hidden_size, kernel_size=config.patch_size, stride=config.patch_size
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, S/p, S/p, C), contiguous: elementwise ops keep their input's strides, so a permuted
        view here would leave the whole residual stream channels-first in memory, and every layer norm, linear and
        window partition would copy it first."""
        check_pixel_values_shape(tuple(pixel_values.shape), self.image_size, self.num_channels)
        return self.projection(pixel_values).permute(0, 2, 3, 1).contiguous()


class VisionAttention(nn.Module):
    """Multi-head self-attention with decomposed relative-position terms.

    Args:
        config: the vision config.
        window_size: side of the attention window, or 0 for global attention over the whole grid.
    """

    def __init__(self, config: SamVisionConfig, window_size: int) -> None:
        super().__init__()
        grid = config.grid_size
        side = window_size if window_size > 0 else grid
        self.num_attention_heads = config.num_attention_heads
        head_dim = config.hidden_size // config.num_attention_heads
        self.scale = head_dim**-0.5
        self.qkv = FastLinear(config.hidden_size, config.hidden_size * 3, bias=config.qkv_bias)
        self.proj = FastLinear(config.hidden_size, config.hidden_size)
        self.use_rel_pos = config.use_rel_pos
        if self.use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * side - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * side - 1, head_dim))
        self.query_chunk_size = QUERY_CHUNK_SIZE  # not a config key: it changes speed, not results

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, H, W, C) -> (B, H, W, C), plus the (B*N, T, T) softmax weights when output_attentions."""
        batch, height, width, channels = hidden_states.shape
        tokens = height * width
        qkv = self.qkv(hidden_states).reshape(batch, tokens, 3, self.num_attention_heads, -1).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)  # (B, N, T, D) each
        rel_h = rel_w = None
        if self.use_rel_pos:
            rel_h, rel_w = decomposed_rel_terms(query, self.rel_pos_h, self.rel_pos_w, (height, width))
        query = query * self.scale
        weights = None
        if output_attentions:
            probs = attention_probs(query, key, rel_h, rel_w)
            output = probs @ value
            weights = probs.reshape(batch * self.num_attention_heads, tokens, tokens)
        else:
            output = chunked_attention(query, key, value, rel_h, rel_w, self.query_chunk_size)
        output = output.permute(0, 2, 1, 3).reshape(batch, height, width, channels)
        return self.proj(output), weights


def window_partition(hidden_states: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pads (B, H, W, C) to multiples of window_size and cuts it into (B*nW, ws, ws, C) windows.

    Returns:
        The windows and the padded (H', W').
    """
    batch, height, width, channels = hidden_states.shape
    pad_h = (window_size - height % window_size) % window_size
    pad_w = (window_size - width % window_size) % window_size
    hidden_states = F.pad(hidden_states, (0, 0, 0, pad_w, 0, pad_h))
    padded_h, padded_w = height + pad_h, width + pad_w
    windows = hidden_states.reshape(
        batch, padded_h // window_size, window_size, padded_w // window_size, window_size, channels
    ).permute(0, 1, 3, 2, 4, 5)
    return windows.reshape(-1, window_size, window_size, channels), (padded_h, padded_w)


def window_unpartition(
    windows: torch.Tensor, window_size: int, padded_size: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """Inverse of window_partition: (B*nW, ws, ws, C) -> (B, H, W, C) without the padding."""
    padded_h, padded_w = padded_size
    batch = windows.shape[0] // ((padded_h // window_size) * (padded_w // window_size))
    hidden_states = windows.reshape(
        batch, padded_h // window_size, padded_w // window_size, window_size, window_size, -1
    ).permute(0, 1, 3, 2, 4, 5)
    hidden_states = hidden_states.reshape(batch, padded_h, padded_w, -1)
    return hidden_states[:, : size[0], : size[1], :].contiguous()


class VisionLayer(nn.Module):
    """Pre-norm transformer block, windowed (window_size > 0) or global (window_size == 0)."""

    def __init__(self, config: SamVisionConfig, window_size: int) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = VisionAttention(config, window_size)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = MLPBlock(hidden_size=config.hidden_size, mlp_dim=config.mlp_dim, hidden_act=config.hidden_act)
        self.window_size = window_size

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, H, W, C) -> (B, H, W, C) and the attention weights (or None)."""
        residual = hidden_states
        hidden_states = self.layer_norm1(hidden_states)
        if self.window_size > 0:
            size = (hidden_states.shape[1], hidden_states.shape[2])
            hidden_states, padded_size = window_partition(hidden_states, self.window_size)
        hidden_states, weights = self.attn(hidden_states, output_attentions=output_attentions)
        if self.window_size > 0:
            hidden_states = window_unpartition(hidden_states, self.window_size, padded_size, size)
        hidden_states = residual + hidden_states
        hidden_states = hidden_states + self.mlp(self.layer_norm2(hidden_states))
        return hidden_states, weights


class VisionNeck(nn.Module):
    """1x1 conv, layer norm, 3x3 conv, layer norm: (B, H, W, C) -> (B, output_channels, H, W)."""

    def __init__(self, config: SamVisionConfig) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(config.hidden_size, config.output_channels, kernel_size=1, bias=False)
        self.layer_norm1 = LayerNorm2d(config.output_channels)
        self.conv2 = nn.Conv2d(config.output_channels, config.output_channels, kernel_size=3, padding=1, bias=False)
        self.layer_norm2 = LayerNorm2d(config.output_channels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.layer_norm1(self.conv1(hidden_states.permute(0, 3, 1, 2)))
        return self.layer_norm2(self.conv2(hidden_states))


class VisionEncoder(nn.Module):
    """Patch embedding, absolute positions, the transformer layers and the neck.

    Args:
        config: the vision config.
    """

    def __init__(self, config: SamVisionConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbeddings(config)
        grid = config.grid_size
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, config.hidden_size)) if config.use_abs_pos else None
        self.layers = nn.ModuleList(
            VisionLayer(config, window_size=0 if i in config.global_attn_indexes else config.window_size)
            for i in range(config.num_hidden_layers)
        )
        self.neck = VisionNeck(config)
        #: bfloat16: the bf16 mode, this encoder's GEMMs under autocast (sam_torch.precision); None: as the weights.
        self.autocast_dtype: torch.dtype | None = None

    def forward(
        self, pixel_values: torch.Tensor, output_attentions: bool = False, output_hidden_states: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        """(B, 3, S, S) pixels -> (B, output_channels, H, W) embeddings, hidden states, attentions.

        Hidden states are the L+1 channels-last (B, H, W, C) grids: the embeddings, then each layer's output.
        In the bf16 mode the embeddings and hidden states are float32 (see sam_torch.precision).
        """
        with autocast(self.autocast_dtype, pixel_values.device.type):
            return self._forward(pixel_values, output_attentions, output_hidden_states)

    def _forward(
        self, pixel_values: torch.Tensor, output_attentions: bool, output_hidden_states: bool
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        hidden_states = self.patch_embed(pixel_values).to(pixel_values.dtype)  # the residual stream: float32 in bf16
        if self.pos_embed is not None:
            hidden_states = hidden_states + self.pos_embed
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, output_attentions=output_attentions)
            if all_hidden is not None:
                all_hidden.append(hidden_states)
            if all_attentions is not None:
                all_attentions.append(weights)
        embeddings = self.neck(hidden_states)
        return (
            embeddings,
            tuple(all_hidden) if all_hidden is not None else None,
            tuple(all_attentions) if all_attentions is not None else None,
        )
