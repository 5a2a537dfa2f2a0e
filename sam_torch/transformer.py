"""The two-way transformer of the SAM mask decoder (PyTorch).

Shape legend: B images, P prompts per image, Q query tokens, K key tokens (h*w image positions), C hidden size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sam_core.config import SamMaskDecoderConfig

from .layers import MLPBlock


class Attention(nn.Module):
    """Multi-head attention with an optional down-projection of the inner width.

    Args:
        config: the mask decoder config.
        downsample_rate: inner width = hidden_size // downsample_rate.
    """

    def __init__(self, config: SamMaskDecoderConfig, downsample_rate: int = 1) -> None:
        super().__init__()
        self.hidden_size = config.hidden_size
        self.internal_dim = config.hidden_size // downsample_rate
        self.num_attention_heads = config.num_attention_heads
        self.q_proj = nn.Linear(self.hidden_size, self.internal_dim)
        self.k_proj = nn.Linear(self.hidden_size, self.internal_dim)
        self.v_proj = nn.Linear(self.hidden_size, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, self.hidden_size)

    def _separate_heads(self, hidden_states: torch.Tensor, prompts: int) -> torch.Tensor:
        """(B, P or 1, T, D) -> (B*P, heads, T, D/heads); a prompt axis of 1 is repeated P times."""
        batch, _, tokens, width = hidden_states.shape
        heads = self.num_attention_heads
        hidden_states = hidden_states.expand(batch, prompts, tokens, width)
        return hidden_states.reshape(batch * prompts, tokens, heads, width // heads).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_similarity: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, P, Q, C) queries over (B, P, K, C) keys/values -> (B, P, Q, C).

        Either side may have a prompt axis of 1, shared by the P prompts of the other side (the image before the
        first block's image-to-token attention): its projections are computed once. Keys shared by every prompt
        take all the prompts' queries as one sequence of P*Q queries (the same per-query softmax).

        Args:
            attention_similarity: an additive logit bias broadcastable to (B*P, heads, Q, K) (PerSAM).
        """
        batch, prompts, tokens = query.shape[0], max(query.shape[1], key.shape[1]), query.shape[2]
        if key.shape[1] == 1 < prompts and attention_similarity is None:
            folded = self.forward(query.reshape(batch, 1, prompts * tokens, query.shape[-1]), key, value)
            return folded.reshape(batch, prompts, tokens, self.hidden_size)
        query = self._separate_heads(self.q_proj(query), prompts)
        key = self._separate_heads(self.k_proj(key), prompts)
        value = self._separate_heads(self.v_proj(value), prompts)
        output = _attend(query, key, value, attention_similarity)
        output = output.transpose(1, 2).reshape(batch, prompts, -1, self.internal_dim)
        return self.out_proj(output)


def _attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) v for (N, heads, Q, d) queries over (N, heads, K, d) keys and values.

    With fewer keys than queries (every image position over a prompt's few tokens) the scores are formed as
    (K, Q): the softmax over K then runs along an axis that vectorizes over Q, ~5x faster on the CPU than
    scaled_dot_product_attention's short rows (the same sums, up to float32 rounding).
    """
    if bias is None and key.shape[-2] < query.shape[-2]:
        scores = torch.matmul(key, query.transpose(-1, -2)) * query.shape[-1] ** -0.5  # (N, heads, K, Q)
        return torch.matmul(value.transpose(-1, -2), scores.softmax(dim=-2)).transpose(-1, -2)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=bias)


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token-to-image attention, MLP, and image-to-token attention.

    Args:
        config: the mask decoder config.
        attention_downsample_rate: inner width reduction of the cross attentions.
        skip_first_layer_pe: the first block's self-attention sees no positional embedding.
    """

    def __init__(
        self, config: SamMaskDecoderConfig, attention_downsample_rate: int = 2, skip_first_layer_pe: bool = False
    ) -> None:
        super().__init__()
        eps = config.layer_norm_eps
        self.self_attn = Attention(config, downsample_rate=1)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=eps)
        self.cross_attn_token_to_image = Attention(config, downsample_rate=attention_downsample_rate)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=eps)
        self.mlp = MLPBlock(hidden_size=config.hidden_size, mlp_dim=config.mlp_dim, hidden_act=config.hidden_act)
        self.layer_norm3 = nn.LayerNorm(config.hidden_size, eps=eps)
        self.layer_norm4 = nn.LayerNorm(config.hidden_size, eps=eps)
        self.cross_attn_image_to_token = Attention(config, downsample_rate=attention_downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        query_point_embedding: torch.Tensor,
        key_point_embedding: torch.Tensor,
        attention_similarity: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns the new (B, P, Q, C) queries, (B, P, K, C) keys, and the image-to-token attention output.

        The keys may come as (B, 1, K, C), shared by the P prompts (the first block); they leave per prompt.
        """
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            query = queries + query_point_embedding
            queries = queries + self.self_attn(query, query, queries)
        queries = self.layer_norm1(queries)

        query = queries + query_point_embedding
        key = keys + key_point_embedding  # the keys do not change before the image-to-token attention
        queries = queries + self.cross_attn_token_to_image(query, key, keys, attention_similarity)
        queries = self.layer_norm2(queries)

        queries = self.layer_norm3(queries + self.mlp(queries))

        query = queries + query_point_embedding
        attn_out = self.cross_attn_image_to_token(key, query, queries)
        keys = self.layer_norm4(keys + attn_out)
        return queries, keys, attn_out


class TwoWayTransformer(nn.Module):
    """A stack of TwoWayAttentionBlocks and a final token-to-image attention."""

    def __init__(self, config: SamMaskDecoderConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                config, attention_downsample_rate=config.attention_downsample_rate, skip_first_layer_pe=i == 0
            )
            for i in range(config.num_hidden_layers)
        )
        self.final_attn_token_to_image = Attention(config, downsample_rate=config.attention_downsample_rate)
        # transformers builds this norm with the LayerNorm default eps, not config.layer_norm_eps.
        self.layer_norm_final_attn = nn.LayerNorm(config.hidden_size)

    def forward(
        self,
        point_embeddings: torch.Tensor,
        image_embeddings: torch.Tensor,
        image_positional_embeddings: torch.Tensor,
        attention_similarity: torch.Tensor | None = None,
        target_embedding: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Runs the blocks.

        Args:
            point_embeddings: (B, P, Q, C) output and prompt tokens.
            image_embeddings: (B, C, h, w), shared by the P prompts of each image (nothing image-sized is repeated
                per prompt before the first block makes the keys differ).
            image_positional_embeddings: (B, C, h, w).
            attention_similarity: additive token-to-image logit bias (PerSAM).
            target_embedding: added to the queries before every block (PerSAM); the first addition also reaches
                the query positional embedding, as in transformers.

        Returns:
            (B, P, Q, C) queries, (B, P, K, C) keys (B, 1, K, C without blocks), and each block's image-to-token
            attention output as (B*P, 1, K, C), transformers' layout.
        """
        keys = image_embeddings.flatten(2).permute(0, 2, 1).unsqueeze(1)
        key_pe = image_positional_embeddings.flatten(2).permute(0, 2, 1).unsqueeze(1)
        if target_embedding is not None:
            point_embeddings = point_embeddings + target_embedding
        queries = point_embeddings
        block_outputs = []
        for index, layer in enumerate(self.layers):
            if target_embedding is not None and index > 0:
                queries = queries + target_embedding
            queries, keys, attn_out = layer(queries, keys, point_embeddings, key_pe, attention_similarity)
            block_outputs.append(attn_out.reshape(-1, 1, *attn_out.shape[2:]))
        query = queries + point_embeddings
        key = keys + key_pe
        queries = self.layer_norm_final_attn(queries + self.final_attn_token_to_image(query, key, keys))
        return queries, keys, tuple(block_outputs)
