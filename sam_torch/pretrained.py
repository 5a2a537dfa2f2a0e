"""Reading and writing SamModel checkpoints in the transformers layout (PyTorch).

Safetensors first; a ``pytorch_model.bin`` is read only with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import torch

from sam_core import weights
from sam_core.checkpoints import TORCH_FILES, read_checkpoint
from sam_core.config import SamConfig

def load_torch_bin(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a pickled torch state dict with weights_only=True; anything needing full unpickling is refused."""
    try:
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{os.fspath(path)} needs full unpickling, which can run arbitrary code, so it is refused. "
            f"Convert it to safetensors in a trusted environment. ({str(error).splitlines()[0]})"
        ) from error
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"{os.fspath(path)} is not a readable torch checkpoint (truncated or corrupt?): {error}") from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{os.fspath(path)} does not hold a state dict of tensors")
    return {k: v.detach().float().numpy() if v.dtype == torch.bfloat16 else v.detach().numpy() for k, v in state.items()}


def read_weights(name_or_path: str | os.PathLike, **hub_kwargs: Any) -> dict[str, np.ndarray]:
    """Finds and reads the weight files of a directory or hub id (safetensors first) into numpy arrays."""
    safetensors, torch_bin = weights.read_safetensors, load_torch_bin
    readers = dict(zip(TORCH_FILES, (safetensors, safetensors, torch_bin, torch_bin)))
    return read_checkpoint(name_or_path, readers, **hub_kwargs)


def load_state_into(model: torch.nn.Module, state: dict[str, np.ndarray], source: str = "checkpoint") -> None:
    """Checks keys and shapes against the model (listing every mismatch), then copies the tensors in."""
    state = weights.fill_tied_keys(dict(state))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    weights.check_state_shapes(expected, {k: tuple(v.shape) for k, v in state.items()}, source=source)
    dtype = next(iter(model.state_dict().values())).dtype
    # numpy has no native bfloat16 (safetensors returns ml_dtypes arrays), so those go through float32.
    tensors = {k: torch.from_numpy(_torch_compatible(np.asarray(v))).to(dtype) for k, v in state.items()}
    model.load_state_dict(tensors, strict=True)


def _torch_compatible(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


def load_pretrained(cls: type, name_or_path: str | os.PathLike, config: SamConfig | None = None, **hub_kwargs: Any):
    """Builds ``cls`` from the config of ``name_or_path`` (unless given) and loads its weights."""
    config = config if config is not None else SamConfig.from_pretrained(name_or_path, **hub_kwargs)
    model = cls(config)
    load_state_into(model, read_weights(name_or_path, **hub_kwargs), source=os.fspath(name_or_path))
    return model


def save_pretrained(model: torch.nn.Module, save_directory: str | os.PathLike) -> None:
    """Writes config.json and model.safetensors into ``save_directory``, each atomically."""
    os.makedirs(save_directory, exist_ok=True)
    model.config.save_pretrained(save_directory)
    state = {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}
    weights.write_safetensors(state, os.path.join(os.fspath(save_directory), weights.SAFETENSORS_NAME))
