"""Training checkpoints of the Keras trainer: the model (save_pretrained), its processor config, the optimizer's
variables (moments, iteration count) in an .npz and the trainer state in JSON, enough to resume exactly. Nothing is
pickled. A checkpoint directory is replaced atomically (written aside, then renamed).
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras
import numpy as np

from sam_core.atomic import replace_directory, write_json
from sam_core.processing import SamProcessor

TRAINER_STATE_NAME = "trainer_state.json"
OPTIMIZER_STATE_NAME = "optimizer_state.npz"


def optimizer_arrays(optimizer: keras.optimizers.Optimizer) -> dict[str, np.ndarray]:
    """The optimizer's variables in order ("0", "1", ...; the order follows the model's trainable variables)."""
    return {str(i): np.asarray(variable.numpy()) for i, variable in enumerate(optimizer.variables)}


def save_checkpoint(
    directory: str | os.PathLike,
    model: keras.Model,
    processor: SamProcessor | None,
    optimizer: keras.optimizers.Optimizer | None,
    state: dict[str, Any],
) -> str:
    """Writes ``directory`` (model, preprocessor_config.json, optimizer_state.npz, trainer_state.json) and returns
    its path.

    Args:
        directory: the checkpoint directory; an existing one is replaced only once the new one is complete.
        model: a TFSamModel (anything with ``save_pretrained``).
        processor: saved beside the model (None: not saved).
        optimizer: its variables go into optimizer_state.npz (None: no optimizer state).
        state: JSON-ready trainer bookkeeping (step, segment, train config, ...).
    """
    def write(staging: str) -> None:
        model.save_pretrained(staging)
        if processor is not None:
            processor.save_pretrained(staging)
        if optimizer is not None:
            np.savez(os.path.join(staging, OPTIMIZER_STATE_NAME), **optimizer_arrays(optimizer))
        write_json(os.path.join(staging, TRAINER_STATE_NAME), state, sort_keys=True)

    return replace_directory(directory, write)


def load_trainer_state(directory: str | os.PathLike) -> dict[str, Any]:
    """The ``state`` written by ``save_checkpoint``."""
    with open(os.path.join(os.fspath(directory), TRAINER_STATE_NAME), encoding="utf-8") as handle:
        return json.load(handle)


def load_optimizer_state(
    directory: str | os.PathLike, optimizer: keras.optimizers.Optimizer, variables: list[keras.Variable]
) -> None:
    """Builds ``optimizer`` for ``variables`` (the model's trainable variables, as when it was saved) and restores
    its saved variables.

    Raises:
        ValueError: the saved state does not fit (another model, or other frozen parts), naming the first mismatch.
    """
    if not optimizer.built:
        optimizer.build(variables)
    with np.load(os.path.join(os.fspath(directory), OPTIMIZER_STATE_NAME), allow_pickle=False) as saved:
        if len(saved.files) != len(optimizer.variables):
            raise ValueError(
                f"optimizer state in {directory}: {len(saved.files)} variables saved, the optimizer has "
                f"{len(optimizer.variables)} (another model or other frozen parts?)"
            )
        for i, variable in enumerate(optimizer.variables):
            value = saved[str(i)]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"optimizer state in {directory}: variable {i} ({variable.path}) has shape {tuple(variable.shape)}"
                    f", saved {tuple(value.shape)}"
                )
            variable.assign(value)


def has_checkpoint(directory: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(os.fspath(directory), TRAINER_STATE_NAME))
