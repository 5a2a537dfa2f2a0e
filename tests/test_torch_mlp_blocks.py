"""MLPBlock outside autograd runs its rows in blocks of MLP_CHUNK_ROWS (for speed); the result equals the one-shot
computation under autograd and a numpy reference, for row counts below, at and between block multiples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_torch import layers
from tests.helpers.tolerances import assert_outputs_close

#: Blocked vs one-shot rows: the same per-row arithmetic, only the GEMM's blocking may differ.
BLOCKS_RTOL = 1e-5


def _reference(mlp: layers.MLPBlock, hidden: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    weights = {name: p.detach().double().numpy() for name, p in mlp.named_parameters()}
    inner = hidden.astype(np.float64) @ weights["lin1.weight"].T + weights["lin1.bias"]
    inner = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))  # exact GELU
    return inner @ weights["lin2.weight"].T + weights["lin2.bias"]


@pytest.mark.parametrize("rows", [7, 8, 13, 24, 29])
def test_blocked_rows_equal_the_one_shot_mlp(monkeypatch, rows):
    monkeypatch.setattr(layers, "MLP_CHUNK_ROWS", 8)
    torch.manual_seed(0)
    mlp = layers.MLPBlock(hidden_size=12, mlp_dim=40, hidden_act="gelu")
    hidden = torch.randn(1, rows, 12) * 2.0
    with torch.no_grad():
        blocked = mlp(hidden)
    one_shot = mlp(hidden)  # autograd on: the plain path
    assert one_shot.requires_grad and not blocked.requires_grad
    assert blocked.shape == (1, rows, 12)
    expected = _reference(mlp, hidden.numpy())
    assert float(np.abs(expected).max()) > 0.5  # informative
    assert_outputs_close(one_shot.detach(), expected, rtol=BLOCKS_RTOL, name="one-shot")
    assert_outputs_close(blocked, expected, rtol=BLOCKS_RTOL, name="blocked")


def test_blocked_rows_keep_leading_dims():
    mlp = layers.MLPBlock(hidden_size=6, mlp_dim=10, hidden_act="relu")
    hidden = torch.randn(2, 3, layers.MLP_CHUNK_ROWS, 6)
    with torch.no_grad():
        blocked = mlp(hidden)
        one_shot = mlp.lin2(mlp.act(mlp.lin1(hidden)))
    assert_outputs_close(blocked, one_shot, rtol=BLOCKS_RTOL, name="blocked")


def test_blocked_paths_run_under_autocast(monkeypatch):
    """bf16 autocast inference goes through both blocked paths (MLP rows, attention queries) and gives the fp32
    result to bf16 precision, as the one-shot paths do."""
    from sam_core.config import SamVisionConfig
    from sam_torch.image_encoder import VisionLayer

    monkeypatch.setattr(layers, "MLP_CHUNK_ROWS", 24)
    config = SamVisionConfig(hidden_size=32, num_attention_heads=4, mlp_dim=64, image_size=128, patch_size=16,
                             use_rel_pos=True, window_size=0)
    torch.manual_seed(1)
    layer = VisionLayer(config, window_size=0).eval()
    layer.attn.query_chunk_size = 24
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            if "rel_pos" in name:
                parameter.normal_(0.0, 0.5)
    hidden = torch.randn(2, 8, 8, 32)
    with torch.no_grad():
        reference = layer(hidden)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            blocked = layer(hidden)[0]
    # bf16 keeps 8 significant bits (relative step 2^-8 = 0.004); a residual layer accumulates a few such steps.
    diff = assert_outputs_close(blocked.float(), reference, rtol=5e-2, name="bf16 autocast")
    assert diff > 1e-4  # the products really ran in bf16
