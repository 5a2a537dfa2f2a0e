"""Small building blocks shared by the SAM modules (PyTorch backend).

Shape legend: B batch, C channels, H/W height/width, T tokens.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .fast_gemm import FastLinear

ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU}

#: Rows (tokens) per block of MLPBlock outside autograd: a ViT-B block's (512, 3072) inner activation is 6 MB and
#: stays in cache, where the whole (4096, 3072) one (50 MB) is a fresh allocation per layer. Rows are independent,
#: so blocks change speed, not results.
MLP_CHUNK_ROWS = 512


def get_activation(name: str) -> nn.Module:
    """Returns a fresh activation module for a config's ``hidden_act`` string."""
    if name not in ACTIVATIONS:
        raise ValueError(f"hidden_act must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channel axis of an NCHW tensor.

    Args:
        num_channels: C.
        eps: variance epsilon.
    """

    def __init__(self, num_channels: int, *, eps: float = 1e-6) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W), in the weights' dtype (a bfloat16 conv output under autocast is cast up)."""
        features = features.permute(0, 2, 3, 1).to(self.weight.dtype)
        normed = F.layer_norm(features, self.normalized_shape, self.weight, self.bias, self.eps)
        return normed.permute(0, 3, 1, 2)


class MLPBlock(nn.Module):
    """Two linear layers with an activation between them (``lin1`` -> act -> ``lin2``).

    Args:
        hidden_size: input and output width.
        mlp_dim: inner width.
        hidden_act: activation name.
    """

    def __init__(self, *, hidden_size: int, mlp_dim: int, hidden_act: str) -> None:
        super().__init__()
        self.lin1 = FastLinear(hidden_size, mlp_dim)
        self.lin2 = FastLinear(mlp_dim, hidden_size)
        self.act = get_activation(hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(..., hidden_size) -> (..., hidden_size)."""
        rows = hidden_states.reshape(-1, hidden_states.shape[-1])
        differentiable = torch.is_grad_enabled() and (
            hidden_states.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        if differentiable or len(rows) <= MLP_CHUNK_ROWS:
            return self.lin2(self.act(self.lin1(hidden_states)))
        blocks = [self.lin2(self.act(self.lin1(rows[start : start + MLP_CHUNK_ROWS])))
                  for start in range(0, len(rows), MLP_CHUNK_ROWS)]  # fmt: skip
        return torch.cat(blocks).reshape(*hidden_states.shape[:-1], self.lin2.out_features)


class FeedForward(nn.Module):
    """A ReLU MLP of ``num_layers`` linear layers: ``proj_in``, ``layers.*``, ``proj_out``.

    Args:
        input_dim: input width.
        hidden_dim: inner width.
        output_dim: output width.
        num_layers: total number of linear layers (>= 2).
        sigmoid_output: apply a sigmoid to the output.
    """

    def __init__(
        self, *, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int, sigmoid_output: bool = False
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.activation = nn.ReLU()
        self.proj_in = nn.Linear(input_dim, hidden_dim)
        self.proj_out = nn.Linear(hidden_dim, output_dim)
        self.layers = nn.ModuleList([nn.Linear(hidden_dim, hidden_dim) for _ in range(num_layers - 2)])
        self.sigmoid_output = sigmoid_output

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(..., input_dim) -> (..., output_dim)."""
        hidden_states = self.activation(self.proj_in(hidden_states))
        for layer in self.layers:
            hidden_states = self.activation(layer(hidden_states))
        hidden_states = self.proj_out(hidden_states)
        return torch.sigmoid(hidden_states) if self.sigmoid_output else hidden_states
