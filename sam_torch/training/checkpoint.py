"""Training checkpoints: the model (save_pretrained), its processor config, and the optimizer / scheduler / step
state needed to resume exactly. A checkpoint directory is replaced atomically (written aside, then renamed).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from sam_core.atomic import replace_directory
from sam_core.processing import SamProcessor

TRAINER_STATE_NAME = "trainer_state.pt"


def save_checkpoint(
    directory: str | os.PathLike,
    model: Any,
    processor: SamProcessor,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
) -> str:
    """Writes ``directory`` (model, preprocessor_config.json, trainer_state.pt) and returns its path.

    Args:
        directory: the checkpoint directory; an existing one is replaced only once the new one is complete.
        model: a SamModel (anything with ``save_pretrained``).
        processor: saved beside the model, so ``SamProcessor.from_pretrained(directory)`` matches its frame.
        optimizer, scheduler: their ``state_dict()`` go into trainer_state.pt.
        state: JSON-like trainer bookkeeping (step, segment, train config, ...): plain types only, so that the
            state loads with ``torch.load(weights_only=True)``.
    """
    def write(staging: str) -> None:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        payload = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "trainer": state}
        torch.save(payload, os.path.join(staging, TRAINER_STATE_NAME))

    return replace_directory(directory, write)


def load_trainer_state(directory: str | os.PathLike) -> dict[str, Any]:
    """The payload written by ``save_checkpoint``: {"optimizer", "scheduler", "trainer"}."""
    return torch.load(os.path.join(os.fspath(directory), TRAINER_STATE_NAME), map_location="cpu", weights_only=True)


def has_checkpoint(directory: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(os.fspath(directory), TRAINER_STATE_NAME))
