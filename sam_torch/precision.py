"""The bf16 mode: float32 weights, the image encoder's GEMMs in bfloat16 (PyTorch; mirrors sam_tf/precision.py).

``SamModel.from_pretrained(..., dtype="bfloat16")`` (or ``set_compute_dtype(model, "bfloat16")``) keeps every
weight in float32, so ``save_pretrained`` writes float32, and runs the image encoder under ``torch.autocast``: its
linear layers (attention qkv and proj, the MLPs), its convolutions (patch embedding, neck) and the attention
products run in bfloat16. Float32 islands, each cheap:

- the residual stream between blocks (a bfloat16 output added to it is promoted), hence the layer norms' inputs;
- LayerNorm2d (the neck's norms) casts its input up, so the image embeddings come out float32;
- the relative-position terms and their bias, given to attention as a float32 mask;
- the softmax (explicit weights in float32; scaled_dot_product_attention accumulates in float32);
- everything outside the image encoder: the positional embeddings, the prompt encoder and the mask decoder (the
  IoU head included) run in float32 on float32 embeddings.

It pays where the device multiplies bfloat16 natively (CPUs with AVX512-BF16 or AMX, recent GPUs). Elsewhere
torch emulates bfloat16 GEMMs far below its float32 rate, so entering the mode there warns (``native_bfloat16``,
a capability check). The measured ViT-B costs are in README.md ("Precision: --dtype bf16").
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch

#: Compute dtypes ``set_compute_dtype`` takes ("float32": the default, everything in float32).
COMPUTE_DTYPES = ("float32", "bfloat16")
_TORCH_DTYPES = {"float32": None, "bfloat16": torch.bfloat16}


def set_compute_dtype(model: torch.nn.Module, dtype: str) -> None:
    """Runs ``model``'s image encoder in ``dtype`` ("bfloat16": autocast; "float32": off). Weights are unchanged.

    Raises:
        ValueError: an unknown dtype, or "bfloat16" on a model whose weights are not float32.
    """
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(COMPUTE_DTYPES)}, got {dtype!r}")
    weights = model.shared_image_embedding.positional_embedding.dtype
    if dtype == "bfloat16" and weights != torch.float32:
        raise ValueError(f"dtype 'bfloat16' runs on float32 weights, but the model's are {weights}")
    model.vision_encoder.autocast_dtype = _TORCH_DTYPES[dtype]
    device = model.shared_image_embedding.positional_embedding.device
    if dtype == "bfloat16" and not native_bfloat16(device):
        warnings.warn(
            f"this {device.type} device has no native bfloat16 matrix products (torch emulates them): the bf16 mode "
            "runs slower than float32 here",
            RuntimeWarning,
            stacklevel=2,
        )


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively: oneDNN's bf16 check on a CPU, CUDA's on a GPU."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return device.type == "cpu" and check is not None and bool(check())


def compute_dtype(model: torch.nn.Module) -> str:
    """The compute dtype of ``model``'s image encoder: "bfloat16" in the bf16 mode, else "float32"."""
    return "bfloat16" if getattr(model.vision_encoder, "autocast_dtype", None) is torch.bfloat16 else "float32"


def autocast(dtype: torch.dtype | None, device_type: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device_type``, or a no-op for None (float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)


def float32_island(reference: Any) -> contextlib.AbstractContextManager:
    """Turns autocast off on ``reference``'s device, when it is on there (its inputs keep their dtypes)."""
    device_type = reference.device.type
    if not torch.is_autocast_enabled(device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)
