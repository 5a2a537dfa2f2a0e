"""Decomposed relative-position attention terms of the SAM image encoder (MViTv2 style).

Shape legend: B batch*heads (or batch, heads as leading dims), H/W query grid, T = H*W tokens, D head dim.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .precision import float32_island


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative-position embeddings for every (query, key) offset along one axis.

    Args:
        q_size: query length along the axis.
        k_size: key length along the axis.
        rel_pos: (L, D) learned table; linearly resized when L != 2*max(q_size, k_size) - 1.

    Returns:
        (q_size, k_size, D) embeddings.
    """
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != max_rel_dist:
        table = rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1)
        resized = F.interpolate(table, size=max_rel_dist, mode="linear")
        rel_pos = resized.reshape(-1, max_rel_dist).permute(1, 0)
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    relative_coords = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[relative_coords.long()]


def decomposed_rel_terms(
    query: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The height and width parts of the relative-position logits.

    The full additive term for query (qh, qw) and key (kh, kw) is ``rel_h[..., qh, qw, kh] + rel_w[..., qh, qw, kw]``.

    Args:
        query: (..., T, D) unscaled queries, T = H*W.
        rel_pos_h: (2H-1, D) table for the height axis.
        rel_pos_w: (2W-1, D) table for the width axis.
        size: (H, W).

    Returns:
        rel_h (..., T, H) and rel_w (..., T, W), in the tables' dtype: float32 in the bf16 mode, where bfloat16
        queries are cast up and autocast is off here (sam_torch.precision).
    """
    height, width = size
    with float32_island(query):
        table_h = get_rel_pos(height, height, rel_pos_h)
        table_w = get_rel_pos(width, width, rel_pos_w)
        grid = query.to(table_h.dtype).reshape(*query.shape[:-2], height, width, query.shape[-1])
        rel_h = torch.einsum("...hwc,hkc->...hwk", grid, table_h)
        rel_w = torch.einsum("...hwc,wkc->...hwk", grid, table_w)
    return rel_h.flatten(-3, -2), rel_w.flatten(-3, -2)


def rel_pos_bias(rel_h: torch.Tensor, rel_w: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """The additive bias (..., Q, T) from the two decomposed parts: bias[..., q, kh*W + kw] = rel_h[..., q, kh] +
    rel_w[..., q, kw].

    Args:
        rel_h: (..., Q, H); rel_w: (..., Q, W).
        out: an optional (..., Q, H, W) buffer to write the bias into (not under autograd).
    """
    height, width = rel_h.shape[-1], rel_w.shape[-1]
    bias = torch.add(rel_h[..., :, None], rel_w[..., None, :], out=out)
    return bias.reshape(*rel_h.shape[:-1], height * width)
