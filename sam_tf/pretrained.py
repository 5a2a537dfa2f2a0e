"""Reading and writing TFSamModel checkpoints (Keras 3).

Reads transformers 4.x ``tf_model.h5`` (the Keras 2 h5 layout, via h5py), which is also what save_pretrained
writes, and torch-format ``model.safetensors`` (single or sharded), converted in memory through the canonical
names of sam_core.layouts.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np

from sam_core import layouts, weights
from sam_core.config import SamConfig
from sam_core.h5_layout import read_keras_h5, write_keras_h5
from sam_core.checkpoints import read_checkpoint

def read_weights(name_or_path: str | os.PathLike, **hub_kwargs: Any) -> dict[str, np.ndarray]:
    """Finds and reads the weight files of a directory or hub id into canonical (torch-layout) numpy arrays:
    tf_model.h5 first, then torch-format safetensors (single or sharded)."""
    readers = {
        weights.TF_H5_NAME: lambda path: layouts.hf_tf_to_canonical(read_keras_h5(path)),
        weights.SAFETENSORS_NAME: weights.read_safetensors,
        weights.SAFETENSORS_INDEX_NAME: weights.read_safetensors,
    }
    return read_checkpoint(name_or_path, readers, **hub_kwargs)


def canonical_variables(model: keras.Model) -> dict[str, keras.Variable]:
    """The model's variables by canonical key (a tied copy is listed once, under its source key)."""
    return {layouts.canonical_key(variable.path): variable for variable in model.weights}


def expected_shapes(model: keras.Model) -> dict[str, tuple[int, ...]]:
    """Canonical key -> canonical shape for every tensor a checkpoint must hold, tied copies included."""
    shapes = {key: layouts.canonical_shape(key, tuple(v.shape)) for key, v in canonical_variables(model).items()}
    for copy, source in weights.TIED_KEYS.items():
        if source in shapes:
            shapes[copy] = shapes[source]
    return shapes


def load_state_into(model: keras.Model, state: dict[str, np.ndarray], source: str = "checkpoint") -> None:
    """Checks keys and shapes against the model (listing every mismatch), then assigns the tensors."""
    state = weights.fill_tied_keys(dict(state))
    weights.check_state_shapes(expected_shapes(model), {k: tuple(np.shape(v)) for k, v in state.items()}, source=source)
    for key, variable in canonical_variables(model).items():
        variable.assign(layouts.to_keras(key, state[key]).astype(variable.dtype))


def model_state(model: keras.Model) -> dict[str, np.ndarray]:
    """Canonical (torch-layout) numpy copies of every tensor, tied copies included."""
    state = {key: layouts.from_keras(key, v.numpy()) for key, v in canonical_variables(model).items()}
    return weights.fill_tied_keys(state)


def load_pretrained(cls: type, name_or_path: str | os.PathLike, config: SamConfig | None = None, **hub_kwargs: Any):
    """Builds ``cls`` from the config of ``name_or_path`` (unless given) and loads its weights."""
    config = config if config is not None else SamConfig.from_pretrained(name_or_path, **hub_kwargs)
    model = cls(config)
    load_state_into(model, read_weights(name_or_path, **hub_kwargs), source=os.fspath(name_or_path))
    return model


def save_pretrained(model: keras.Model, save_directory: str | os.PathLike) -> None:
    """Writes config.json and tf_model.h5 (transformers' Keras 2 layout) into ``save_directory``, each atomically."""
    os.makedirs(save_directory, exist_ok=True)
    model.config.save_pretrained(save_directory)
    groups = layouts.canonical_to_hf_tf(model_state(model))
    write_keras_h5(groups, os.path.join(os.fspath(save_directory), weights.TF_H5_NAME))
