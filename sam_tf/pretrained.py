"""Loading and saving TFSamModel weights (Keras 3), through sam_core's one checkpoint reader.

Every source ``sam_core.checkpoint.read_checkpoint`` reads loads here: transformers 4.x ``tf_model.h5`` (the Keras 2
h5 layout, via h5py; also what save_pretrained writes), torch-format safetensors (single or sharded), torch pickles
(read without torch and without running code), Meta's ``.pth`` (config inferred from shapes) and Hub ids.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np

from sam_core import layouts, weights
from sam_core.config import SamConfig
from sam_core.h5_layout import write_keras_h5
from sam_core.load_options import read_for_from_pretrained

from .precision import COMPUTE_DTYPES, set_compute_dtype


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


def load_pretrained(
    cls: type,
    name_or_path: str | os.PathLike,
    config: SamConfig | str | None = None,
    dtype: Any = None,
    **kwargs: Any,
) -> keras.Model:
    """Builds ``cls`` for the checkpoint at ``name_or_path`` and loads its weights (see TFSamModel.from_pretrained).

    Raises:
        TypeError: unknown keyword arguments, by name.
        ValueError: an unknown dtype, or float16 (the Keras backend runs float32 and the bf16 mode).
        sam_core.weights.CheckpointError: an unreadable checkpoint, or one that does not fit the config.
    """
    contents, name = read_for_from_pretrained(f"{cls.__name__}.from_pretrained", name_or_path, config, dtype, kwargs)
    if name not in (None, *COMPUTE_DTYPES):
        raise ValueError(f"dtype {name!r} is not supported by the Keras backend: load in float32 or bfloat16")
    model = cls(contents.config)
    load_state_into(model, contents.state, source=os.fspath(name_or_path))
    if name == "bfloat16":
        set_compute_dtype(model, name)  # float32 variables, the encoder's heavy layers in bfloat16 (sam_tf.precision)
    return model


def save_pretrained(model: keras.Model, save_directory: str | os.PathLike) -> None:
    """Writes config.json and tf_model.h5 (transformers' Keras 2 layout) into ``save_directory``, each atomically;
    always float32 (a model in the bf16 mode keeps float32 variables)."""
    os.makedirs(save_directory, exist_ok=True)
    model.config.save_pretrained(save_directory)
    groups = layouts.canonical_to_hf_tf(model_state(model))
    write_keras_h5(groups, os.path.join(os.fspath(save_directory), weights.TF_H5_NAME))
