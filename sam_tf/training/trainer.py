"""The Keras training loop: ``sam_torch.training.Trainer``'s constructor, methods and run directory, implemented
with ``compile()`` / ``fit()``.

- Data: the steps of ``sam_core.training.BatchSource`` (the synthetic stream or a dataset) through ``tf_dataset``:
  the same batches and prompts as the torch trainer for the same seed.
- Optimizer: Keras AdamW (decoupled weight decay, none on 1-D variables, like the torch trainer's parameter
  groups), ``WarmupCosine`` (sam_core's warmup_cosine), global-norm clipping (``global_clipnorm``), and gradient
  accumulation through the optimizer's ``gradient_accumulation_steps`` (each step's batch cut into
  ``grad_accum_steps`` micro-batches, as in torch). Keras puts AdamW's epsilon outside the bias correction
  (torch's 1e-8 is kept; the two differ by sqrt(1 - beta2^t), negligible beside real gradients).
- Freezing: ``trainable = False`` on the vision and / or prompt encoder.
- bf16: ``TrainConfig.autocast="bf16"`` is refused with a ValueError: the Keras backend trains in float32.

The run directory is the torch trainer's: ``checkpoint/`` (the latest checkpoint, with the optimizer and trainer
state), ``model/`` (save_pretrained + the processor, once the schedule is complete) and ``train_log.jsonl``.
Training is deterministic for a seed and a resumed run continues as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from sam_core.datasets.base import TrainingDataset
from sam_core.evaluation import evaluate_dataset, evaluate_model
from sam_core.processing import SamProcessor
from sam_core.synthetic import SyntheticSceneDataset
from sam_core.training.batch import processor_for_config
from sam_core.training.config import TrainConfig
from sam_core.training.embedding_cache import EmbeddingCache
from sam_core.training.schedule import warmup_cosine
from sam_core.training.source import BatchSource, split_arrays

from ..backend import ModelGraphs
from .callbacks import SavePretrainedCheckpoint
from .checkpoint import has_checkpoint, load_optimizer_state, load_trainer_state
from .data import tf_dataset
from .schedule import WarmupCosine

if TYPE_CHECKING:
    from ..modeling import TFSamModel

__all__ = ["CHECKPOINT_DIR", "FINAL_DIR", "LOG_NAME", "TrainConfig", "Trainer", "warmup_cosine"]

CHECKPOINT_DIR = "checkpoint"
FINAL_DIR = "model"
LOG_NAME = "train_log.jsonl"
#: torch.optim.AdamW's defaults, used on both sides.
BETAS, EPSILON = (0.9, 0.999), 1e-8


class Trainer:
    """Trains a TFSamModel on synthetic scenes or a dataset (the torch Trainer's API).

    Args:
        model: the model (trained in place).
        config: the run's hyper-parameters.
        out_dir: where the checkpoint, the final model and the log go.
        processor: the processor (default: the one matching the model's frame).
        data_workers: how many steps tf.data prepares ahead, in a background thread (0: one). The batches are
            the same either way.
        device: a TensorFlow device to train on (e.g. "/GPU:0"; default: TensorFlow's placement).
        dataset: the training items (a ``TrainingDataset``; None: the synthetic stream of ``config``).
        val_dataset: the items ``evaluate`` scores (None: held-out synthetic scenes of ``config.eval_seed``).

    Raises:
        ValueError: ``config.autocast`` is set (the Keras backend trains in float32).
    """

    def __init__(
        self,
        model: TFSamModel,
        config: TrainConfig,
        out_dir: str | os.PathLike,
        processor: SamProcessor | None = None,
        data_workers: int = 0,
        device: str | None = None,
        dataset: TrainingDataset | None = None,
        val_dataset: TrainingDataset | None = None,
    ) -> None:
        if config.autocast is not None:
            raise ValueError(
                f"TrainConfig.autocast={config.autocast!r}: the Keras backend trains in float32 only; set "
                "autocast=None (--bf16 off) or train with the torch backend"
            )
        self.model, self.config, self.out_dir = model, config, os.fspath(out_dir)
        self.data_workers, self.device = data_workers, device
        self.dataset, self.val_dataset = dataset, val_dataset
        self.processor = processor if processor is not None else processor_for_config(model.config)
        model.vision_encoder.trainable = not config.freeze_vision_encoder
        model.prompt_encoder.trainable = not config.freeze_prompt_encoder
        self.optimizer = self._optimizer()
        model.compile(optimizer=self.optimizer, loss_weights=config.loss_weights, prompt_mix=config.prompts)
        self.source = BatchSource(
            config.seed, config.batch_size, config.prompts_per_image, self.processor, dict(config.scene),
            config.start_difficulty, config.curriculum_steps, config.prompts, dataset=dataset,
        )  # fmt: skip
        self.step, self.segment, self.train_seconds = 0, 0, 0.0
        # A frozen encoder maps each image to the same embeddings every epoch: keep them (datasets only; the
        # synthetic stream never repeats an image). They travel with the step's arrays (image_embeddings).
        cache = config.freeze_vision_encoder and dataset is not None
        self.embedding_cache = EmbeddingCache() if cache else None

    def _optimizer(self) -> keras.optimizers.AdamW:
        config = self.config
        accumulation = config.grad_accum_steps
        schedule = WarmupCosine(
            config.lr, warmup_steps=config.warmup_steps, total_steps=config.total_steps,
            min_ratio=config.min_lr_ratio, accumulation_steps=accumulation,
        )  # fmt: skip
        optimizer = keras.optimizers.AdamW(
            learning_rate=schedule, weight_decay=config.weight_decay, beta_1=BETAS[0], beta_2=BETAS[1],
            epsilon=EPSILON, global_clipnorm=config.grad_clip if config.grad_clip > 0 else None,
            gradient_accumulation_steps=accumulation if accumulation > 1 else None,
        )  # fmt: skip
        variables = self.model.trainable_variables
        optimizer.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) < 2])
        optimizer.build(variables)
        return optimizer

    def _placement(self) -> contextlib.AbstractContextManager:
        return tf.device(self.device) if self.device is not None else contextlib.nullcontext()

    # ------------------------------------------------------------------------------------------------ steps
    def difficulty(self, step: int) -> float:
        return self.source.difficulty(step)

    def arrays_for_step(self, step: int) -> dict[str, np.ndarray]:
        """The training arrays of ``step`` (``BatchSource.arrays``), what ``train_step`` trains on; with the image
        encoder frozen on a dataset, also the (B, g, g, C) ``image_embeddings`` (from the cache or computed now)."""
        arrays = self.source.arrays(step)
        if self.embedding_cache is not None:
            pixels = arrays["pixel_values"]

            def encode(rows: list[int]) -> np.ndarray:
                # The backends' encoder call: traced after a few eager calls (an eager call costs ~3x the graph).
                encoder = ModelGraphs.of(self.model).encoder(int(pixels.shape[-1]))
                with self._placement():
                    return np.transpose(encoder(tf.constant(pixels[rows])).numpy(), (0, 2, 3, 1))  # NCHW -> NHWC

            arrays["image_embeddings"] = np.stack(self.embedding_cache.lookup(pixels, encode))
        return arrays

    def train_step(self, prepared: dict[str, np.ndarray] | None = None) -> dict[str, float]:
        """Runs one optimization step (on ``prepared``, default ``arrays_for_step(step)``) over its
        ``grad_accum_steps`` micro-batches; returns its logged values (means over them)."""
        arrays = prepared if prepared is not None else self.arrays_for_step(self.step)
        self.model.reset_metrics()
        with self._placement():
            for part in split_arrays(arrays, self.config.grad_accum_steps):
                logs = self.model.train_on_batch(part, return_dict=True)
        self.step = int(self.optimizer.iterations)
        return {**{k: float(v) for k, v in logs.items()}, "lr": self._lr(self.step - 1)}

    def _lr(self, step: int) -> float:
        config = self.config
        return config.lr * warmup_cosine(step, warmup_steps=config.warmup_steps, total_steps=config.total_steps,
                                         min_ratio=config.min_lr_ratio)  # fmt: skip

    def fit(
        self,
        max_minutes: float | None = None,
        max_steps: int | None = None,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
    ) -> dict[str, float]:
        """Trains with ``model.fit`` until ``total_steps``, ``max_steps`` more steps, or ``max_minutes`` of wall
        time.

        Checkpoints every ``checkpoint_every`` steps and at the end; writes the final model to ``out_dir/model``
        when the schedule is complete. ``on_step(step, logged)`` is called after every step (a progress bar).
        Returns the last step's logged values.
        """
        os.makedirs(self.out_dir, exist_ok=True)
        total = self.config.total_steps
        stop_step = total if max_steps is None else min(total, self.step + max_steps)
        run = _RunCallback(self, stop_step, max_minutes, on_step)
        checkpoints = SavePretrainedCheckpoint(
            os.path.join(self.out_dir, CHECKPOINT_DIR), processor=self.processor,
            every_steps=self.config.checkpoint_every, state=self._state,
        )  # fmt: skip
        if self.step < stop_step:
            dataset = tf_dataset(self.arrays_for_step, stop_step - self.step, self.step,
                                 micro_batches=self.config.grad_accum_steps)  # fmt: skip
            with self._placement():
                self.model.fit(dataset.prefetch(max(1, self.data_workers)), epochs=1, verbose=0,
                               callbacks=[run, checkpoints])  # fmt: skip
        if checkpoints.saved_step != self.step:
            self.save_checkpoint()
        if self.step >= self.config.total_steps:
            self.model.save_pretrained(os.path.join(self.out_dir, FINAL_DIR))
            self.processor.save_pretrained(os.path.join(self.out_dir, FINAL_DIR))
        return run.last

    def evaluate(self, num_items: int | None = None) -> dict[str, Any]:
        """Point and box mIoU (overall and per category, ``EvalResult.summary``) on at most ``num_items`` (default
        ``config.eval_scenes``) items of the validation dataset, or held-out synthetic scenes without one."""
        limit = self.config.eval_scenes if num_items is None else num_items
        with self._placement():
            if self.val_dataset is not None:
                return evaluate_dataset(self.model, self.val_dataset, limit=limit).summary()
            scenes = SyntheticSceneDataset(self.config.eval_seed, length=limit)
            return evaluate_model(self.model, scenes).summary()

    # ------------------------------------------------------------------------------------------------ state
    def _log(self, record: dict[str, Any]) -> None:
        record = {"segment": self.segment, "time": round(time.time(), 3), **record}
        with open(os.path.join(self.out_dir, LOG_NAME), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def _dataset_size(self) -> int | None:
        return None if self.dataset is None else len(self.source.indices)

    def _state(self) -> dict[str, Any]:
        return {"step": self.step, "segment": self.segment, "train_seconds": self.train_seconds,
                "config": self.config.to_dict(), "dataset_size": self._dataset_size()}  # fmt: skip

    def save_checkpoint(self) -> str:
        """Writes ``out_dir/checkpoint`` now; returns its path."""
        saver = SavePretrainedCheckpoint(os.path.join(self.out_dir, CHECKPOINT_DIR), processor=self.processor,
                                         state=self._state)  # fmt: skip
        saver.set_model(self.model)
        return saver.save()

    @classmethod
    def resume(
        cls,
        out_dir: str | os.PathLike,
        data_workers: int = 0,
        device: str | None = None,
        dataset: TrainingDataset | None = None,
        val_dataset: TrainingDataset | None = None,
    ) -> Trainer:
        """Rebuilds the trainer from ``out_dir/checkpoint`` (model, optimizer, step); new segment. A run that
        trained on a dataset needs the same ``dataset`` again.

        Raises:
            FileNotFoundError: no checkpoint in ``out_dir``.
            ValueError: ``dataset`` is missing, or its size is not the checkpoint's.
        """
        from ..modeling import TFSamModel

        directory = os.path.join(os.fspath(out_dir), CHECKPOINT_DIR)
        if not has_checkpoint(directory):
            raise FileNotFoundError(f"no checkpoint to resume in {directory}")
        state = load_trainer_state(directory)
        model = TFSamModel.from_pretrained(directory)
        processor = SamProcessor.from_pretrained(directory)
        config = TrainConfig.from_dict(state["config"])
        trainer = cls(model, config, out_dir, processor, data_workers, device, dataset, val_dataset)
        expected, given = state.get("dataset_size"), trainer._dataset_size()
        if expected != given:
            raise ValueError(
                f"dataset: the checkpoint in {directory} trained on "
                f"{'the synthetic stream' if expected is None else f'{expected} items'}, got "
                f"{'none' if given is None else f'{given} items'}"
            )
        load_optimizer_state(directory, trainer.optimizer, model.trainable_variables)
        trainer.step, trainer.train_seconds = int(state["step"]), float(state["train_seconds"])
        trainer.segment = int(state["segment"]) + 1
        return trainer


class _RunCallback(keras.callbacks.Callback):
    """The trainer's bookkeeping inside ``model.fit``: per-step metrics (reset at each step's first micro-batch),
    the step counter, the log, periodic evaluation, the time budget and ``on_step``."""

    def __init__(self, trainer: Trainer, stop_step: int, max_minutes: float | None, on_step: Callable | None) -> None:
        super().__init__()
        self.trainer, self.stop_step, self.max_minutes, self.on_step = trainer, stop_step, max_minutes, on_step
        self.first_step = trainer.step
        self.start, self.cpu_start = time.perf_counter(), time.process_time()
        self.tick = self.start
        self.last: dict[str, float] = {}

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if batch % self.trainer.config.grad_accum_steps == 0:
            self.trainer.model.reset_metrics()
            self.tick = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        trainer, config = self.trainer, self.trainer.config
        if (batch + 1) % config.grad_accum_steps:
            return
        trainer.train_seconds += time.perf_counter() - self.tick
        trainer.step = int(trainer.optimizer.iterations)
        step = trainer.step
        self.last = {**{k: float(v) for k, v in (logs or {}).items()}, "lr": trainer._lr(step - 1)}
        elapsed = time.perf_counter() - self.start
        out_of_time = self.max_minutes is not None and elapsed > 60 * self.max_minutes
        if step % config.log_every == 0 or step == self.stop_step or out_of_time:
            done = step - self.first_step
            trainer._log({**self.last, "step": step, "wall_s": round(elapsed, 3),
                          "cpu_s": round(time.process_time() - self.cpu_start, 3),
                          "train_s": round(trainer.train_seconds, 3), "steps_per_s": done / elapsed,
                          "images_per_s": done * config.batch_size / elapsed})  # fmt: skip
        if config.eval_every and step % config.eval_every == 0:
            trainer._log({"event": "eval", "step": step, **trainer.evaluate()})
        if self.on_step is not None:
            self.on_step(step, self.last)
        if out_of_time:
            self.model.stop_training = True
