"""Keras callbacks for training TFSamModel: checkpoints as ``save_pretrained`` directories that every other
command loads (plus the optimizer state, to resume).

The standard Keras callbacks work as usual with ``model.fit``: ``keras.callbacks.EarlyStopping(monitor="val_loss")``
(or ``val_point_iou`` with ``mode="max"``), the progress bar (``verbose=1``), ``keras.callbacks.CSVLogger``, ...
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import keras

from sam_core.processing import SamProcessor

from .checkpoint import save_checkpoint


class SavePretrainedCheckpoint(keras.callbacks.Callback):
    """Writes the model as a ``save_pretrained`` directory (with the processor config, the optimizer state and a
    JSON state) at the end of each epoch, or every ``every_steps`` optimizer steps.

    Args:
        directory: the checkpoint directory (replaced atomically each time); ``{epoch}`` and ``{step}`` in it are
            filled in, to keep several.
        processor: saved beside the model (default: none).
        every_steps: save every this many optimizer steps (``optimizer.iterations``) instead of per epoch.
        save_optimizer: also save the optimizer's variables (``optimizer_state.npz``) to resume from.
        state: returns the JSON-ready state to save (default: ``{"step": optimizer.iterations}``).
        monitor, mode: with a monitor (e.g. "val_loss", mode "min"), an epoch-end save happens only when it improves.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        processor: SamProcessor | None = None,
        every_steps: int | None = None,
        save_optimizer: bool = True,
        state: Callable[[], dict[str, Any]] | None = None,
        monitor: str | None = None,
        mode: str = "min",
    ) -> None:
        super().__init__()
        if every_steps is not None and int(every_steps) < 1:
            raise ValueError(f"every_steps must be >= 1, got {every_steps}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.directory, self.processor = os.fspath(directory), processor
        self.every_steps, self.save_optimizer, self.state = every_steps, save_optimizer, state
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None
        self.saved_step: int | None = None
        self.saved: list[str] = []

    def _step(self) -> int:
        return int(self.model.optimizer.iterations)

    def save(self, epoch: int | None = None) -> str:
        """Writes the checkpoint now; returns its directory."""
        step = self._step()
        directory = self.directory.format(epoch=epoch if epoch is not None else "", step=step)
        state = self.state() if self.state is not None else {"step": step}
        optimizer = self.model.optimizer if self.save_optimizer else None
        save_checkpoint(directory, self.model, self.processor, optimizer, state)
        self.saved_step = step
        self.saved.append(directory)
        return directory

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.every_steps is None:
            return
        step = self._step()
        if step % self.every_steps == 0 and step != self.saved_step and step > 0:
            self.save()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.every_steps is not None:
            return
        if self.monitor is not None:
            value = (logs or {}).get(self.monitor)
            if value is None:
                raise ValueError(f"monitor {self.monitor!r} is not in the epoch logs {sorted(logs or {})}")
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            if not better:
                return
            self.best = float(value)
        self.save(epoch + 1)
