"""Loading and saving SamModel weights (PyTorch), through sam_core's one checkpoint reader.

Every source ``sam_core.checkpoint.read_checkpoint`` reads loads here: transformers directories (safetensors,
sharded, ``pytorch_model.bin`` read without running code), ``tf_model.h5``, single weight files, Meta's ``.pth``
(config inferred from shapes) and Hub ids. Saving writes config.json and model.safetensors, each atomically.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from sam_core import weights
from sam_core.config import SamConfig
from sam_core.load_options import read_for_from_pretrained

from .precision import set_compute_dtype


def load_state_into(model: torch.nn.Module, state: dict[str, np.ndarray], source: str = "checkpoint") -> None:
    """Checks keys and shapes against the model (listing every mismatch), then copies the tensors in.

    Raises:
        sam_core.weights.CheckpointError: missing, unexpected or mis-shaped keys.
    """
    state = weights.fill_tied_keys(dict(state))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    weights.check_state_shapes(expected, {k: tuple(v.shape) for k, v in state.items()}, source=source)
    dtype = next(iter(model.state_dict().values())).dtype
    # numpy has no native bfloat16 (safetensors returns ml_dtypes arrays), so those go through float32.
    tensors = {k: torch.from_numpy(_torch_compatible(np.asarray(v))).to(dtype) for k, v in state.items()}
    model.load_state_dict(tensors, strict=True)


def _torch_compatible(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


def load_pretrained(
    cls: type,
    name_or_path: str | os.PathLike,
    config: SamConfig | str | None = None,
    dtype: Any = None,
    **kwargs: Any,
) -> torch.nn.Module:
    """Builds ``cls`` for the checkpoint at ``name_or_path`` and loads its weights (see SamModel.from_pretrained).

    Raises:
        TypeError: unknown keyword arguments, by name.
        ValueError: an unknown dtype.
        sam_core.weights.CheckpointError: an unreadable checkpoint, or one that does not fit the config.
    """
    contents, name = read_for_from_pretrained(f"{cls.__name__}.from_pretrained", name_or_path, config, dtype, kwargs)
    model = cls(contents.config)
    load_state_into(model, contents.state, source=os.fspath(name_or_path))
    if name == "bfloat16":
        set_compute_dtype(model, name)  # float32 weights, the encoder's GEMMs in bfloat16 (sam_torch.precision)
    elif name not in (None, "float32"):
        model = model.to(getattr(torch, name))
    return model.eval()


def save_pretrained(model: torch.nn.Module, save_directory: str | os.PathLike) -> None:
    """Writes config.json and model.safetensors into ``save_directory``, each atomically, in the weights' dtype:
    float32 for a model in the bf16 mode (its weights stay float32), float16 after ``dtype="float16"``."""
    os.makedirs(save_directory, exist_ok=True)
    model.config.save_pretrained(save_directory)
    state = {k: _numpy(v) for k, v in model.state_dict().items()}
    weights.write_safetensors(state, os.path.join(os.fspath(save_directory), weights.SAFETENSORS_NAME))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """A CPU numpy copy; bfloat16 goes through ml_dtypes (safetensors stores it as BF16)."""
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        import ml_dtypes

        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()
