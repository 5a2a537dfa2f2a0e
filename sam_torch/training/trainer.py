"""The training loop: the step's training arrays (``sam_core.training.BatchSource.arrays``, from the synthetic
stream or any ``sam_core.datasets.TrainingDataset``), AdamW with warmup + cosine, gradient clipping and
accumulation, optional bf16 autocast, freezing options, resumable checkpoints, a JSON-lines log and evaluation on
a validation dataset.

Training is deterministic for a seed: step ``s`` draws its items and prompts from the step number alone (see
``sam_core.training.source``), and the model, optimizer and scheduler states are checkpointed, so a resumed run
continues exactly as an uninterrupted one. Each resume starts a new log ``segment``.

The run directory (the same for ``sam_tf.training.Trainer``): ``checkpoint/`` (the latest checkpoint, with the
trainer state), ``model/`` (save_pretrained + the processor, once the schedule is complete) and ``train_log.jsonl``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sam_core.datasets.base import TrainingDataset
from sam_core.evaluation import evaluate_dataset
from sam_core.processing import SamProcessor
from sam_core.training.batch import TrainingBatch, processor_for_config
from sam_core.training.config import TrainConfig
from sam_core.training.embedding_cache import EmbeddingCache
from sam_core.training.schedule import warmup_cosine
from sam_core.training.source import BatchSource, split_arrays

from ..modeling import SamModel
from .batches import prefetched
from .checkpoint import has_checkpoint, load_trainer_state, save_checkpoint
from .data import as_tensors
from .evaluate import evaluate
from .objective import autocast_context, step_loss

__all__ = ["CHECKPOINT_DIR", "FINAL_DIR", "LOG_NAME", "TrainConfig", "Trainer", "warmup_cosine"]

CHECKPOINT_DIR = "checkpoint"
FINAL_DIR = "model"
LOG_NAME = "train_log.jsonl"


class Trainer:
    """Trains a SamModel on synthetic scenes or a dataset.

    Args:
        model: the model (trained in place).
        config: the run's hyper-parameters.
        out_dir: where the checkpoint, the final model and the log go.
        processor: the processor (default: the one matching the model's frame).
        data_workers: processes that prepare the batches ahead of the optimization (0: inline). The batches are
            the same either way.
        device: where the model trains (default: where it is). Batches are drawn on the CPU and moved there.
        dataset: the training items (a ``TrainingDataset``; None: the synthetic stream of ``config``).
        val_dataset: the items ``evaluate`` scores (None: held-out synthetic scenes of ``config.eval_seed``).
    """

    def __init__(
        self,
        model: SamModel,
        config: TrainConfig,
        out_dir: str | os.PathLike,
        processor: SamProcessor | None = None,
        data_workers: int = 0,
        device: torch.device | str | None = None,
        dataset: TrainingDataset | None = None,
        val_dataset: TrainingDataset | None = None,
    ) -> None:
        self.device = torch.device(device) if device is not None else model.device
        model.to(self.device)
        self.model, self.config, self.out_dir = model, config, os.fspath(out_dir)
        self.data_workers = data_workers
        self.dataset, self.val_dataset = dataset, val_dataset
        self.processor = processor if processor is not None else processor_for_config(model.config)
        for module, frozen in ((model.vision_encoder, config.freeze_vision_encoder),
                               (model.prompt_encoder, config.freeze_prompt_encoder)):  # fmt: skip
            module.requires_grad_(not frozen)
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in trainable if p.ndim >= 2], "weight_decay": config.weight_decay},
            {"params": [p for n, p in trainable if p.ndim < 2], "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr)
        schedule = functools.partial(
            warmup_cosine, warmup_steps=config.warmup_steps, total_steps=config.total_steps,
            min_ratio=config.min_lr_ratio,
        )  # fmt: skip
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.source = BatchSource(
            config.seed, config.batch_size, config.prompts_per_image, self.processor, dict(config.scene),
            config.start_difficulty, config.curriculum_steps, config.prompts, dataset=dataset,
        )  # fmt: skip
        self.step, self.segment, self.train_seconds = 0, 0, 0.0
        # A frozen encoder maps each image to the same embeddings every epoch: keep them (datasets only; the
        # synthetic stream never repeats an image).
        cache = config.freeze_vision_encoder and dataset is not None
        self.embedding_cache = EmbeddingCache() if cache else None

    # ------------------------------------------------------------------------------------------------ steps
    def difficulty(self, step: int) -> float:
        return self.source.difficulty(step)

    def batch_for_step(self, step: int) -> tuple[TrainingBatch, np.random.Generator]:
        """The (TrainingBatch, prompt Generator) of ``step``; a pure function of the seed and the step."""
        return self.source(step)

    def arrays_for_step(self, step: int) -> dict[str, np.ndarray]:
        """The training arrays of ``step`` (``BatchSource.arrays``), what ``train_step`` trains on."""
        return self.source.arrays(step)

    def train_step(self, prepared: dict[str, np.ndarray] | None = None) -> dict[str, float]:
        """Runs one optimization step (on ``prepared``, default ``arrays_for_step(step)``), accumulating the
        gradients of ``config.grad_accum_steps`` micro-batches; returns its logged values (means over them)."""
        self.model.train()
        if self.config.freeze_vision_encoder:
            self.model.vision_encoder.eval()
        arrays = prepared if prepared is not None else self.arrays_for_step(self.step)
        parts = split_arrays(arrays, self.config.grad_accum_steps)
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        for part in parts:
            tensors = as_tensors(part, self.device)
            embeddings = (
                None if self.embedding_cache is None else self._frozen_embeddings(part["pixel_values"], tensors)
            )
            loss, logged = step_loss(
                self.model, tensors, self.config.loss_weights, self.config.autocast, embeddings=embeddings
            )
            (loss / len(parts)).backward()
            for name, value in logged.items():
                totals[name] = totals.get(name, 0.0) + value / len(parts)
        if self.config.grad_clip > 0:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            totals["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip))
        totals["lr"] = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return totals

    @torch.no_grad()
    def _frozen_embeddings(self, pixel_values: np.ndarray, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, C, g, g) embeddings of the frozen image encoder, from the cache or computed (and kept) now."""

        def encode(rows: list[int]) -> torch.Tensor:
            with autocast_context(self.device, self.config.autocast):
                return self.model.vision_encoder(tensors["pixel_values"][rows])[0]

        return torch.stack(self.embedding_cache.lookup(pixel_values, encode))

    def fit(
        self,
        max_minutes: float | None = None,
        max_steps: int | None = None,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
    ) -> dict[str, float]:
        """Trains until ``total_steps``, ``max_steps`` more steps, or ``max_minutes`` of wall time.

        Checkpoints every ``checkpoint_every`` steps and at the end; writes the final model to ``out_dir/model``
        when the schedule is complete. ``on_step(step, logged)`` is called after every step (a progress bar).
        Returns the last step's logged values.
        """
        os.makedirs(self.out_dir, exist_ok=True)
        start, cpu_start, last = time.perf_counter(), time.process_time(), {}
        total = self.config.total_steps
        stop_step = total if max_steps is None else min(total, self.step + max_steps)
        first_step, saved_step = self.step, None
        # Tests may replace arrays_for_step; the prefetching workers only know the configured source.
        inline = self.data_workers <= 0 or "arrays_for_step" in vars(self)
        batches = None if inline else prefetched(self.source.arrays, self.step, stop_step, self.data_workers)
        while self.step < stop_step:
            tick = time.perf_counter()
            last = self.train_step(None if batches is None else next(batches))
            self.train_seconds += time.perf_counter() - tick
            if on_step is not None:
                on_step(self.step, last)
            elapsed = time.perf_counter() - start
            out_of_time = max_minutes is not None and elapsed > 60 * max_minutes
            if self.step % self.config.log_every == 0 or self.step == stop_step or out_of_time:
                done = self.step - first_step
                self._log({**last, "step": self.step, "wall_s": round(elapsed, 3),
                           "cpu_s": round(time.process_time() - cpu_start, 3),
                           "train_s": round(self.train_seconds, 3), "steps_per_s": done / elapsed,
                           "images_per_s": done * self.config.batch_size / elapsed})  # fmt: skip
            if self.config.eval_every and self.step % self.config.eval_every == 0:
                self._log({"event": "eval", "step": self.step, **self.evaluate()})
            if self.step % self.config.checkpoint_every == 0:
                saved_step = self.step
                self.save_checkpoint()
            if out_of_time:
                break
        if batches is not None:
            batches.close()
        if saved_step != self.step:
            self.save_checkpoint()
        if self.step >= self.config.total_steps:
            self.model.save_pretrained(os.path.join(self.out_dir, FINAL_DIR))
            self.processor.save_pretrained(os.path.join(self.out_dir, FINAL_DIR))
        return last

    def evaluate(self, num_items: int | None = None) -> dict[str, Any]:
        """Point and box mIoU (overall and per category, ``EvalResult.summary``) on at most ``num_items`` (default
        ``config.eval_scenes``) items of the validation dataset, or held-out synthetic scenes without one."""
        limit = self.config.eval_scenes if num_items is None else num_items
        was_training = self.model.training
        self.model.eval()
        try:
            if self.val_dataset is not None:
                return evaluate_dataset(self.model, self.val_dataset, limit=limit).summary()
            return evaluate(self.model, self.processor, num_scenes=limit, seed=self.config.eval_seed).summary()
        finally:
            self.model.train(was_training)

    # ------------------------------------------------------------------------------------------------ state
    def _log(self, record: dict[str, Any]) -> None:
        record = {"segment": self.segment, "time": round(time.time(), 3), **record}
        with open(os.path.join(self.out_dir, LOG_NAME), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def _dataset_size(self) -> int | None:
        return None if self.dataset is None else len(self.source.indices)

    def save_checkpoint(self) -> str:
        state = {"step": self.step, "segment": self.segment, "train_seconds": self.train_seconds,
                 "config": self.config.to_dict(), "dataset_size": self._dataset_size()}  # fmt: skip
        directory = os.path.join(self.out_dir, CHECKPOINT_DIR)
        return save_checkpoint(directory, self.model, self.processor, self.optimizer, self.scheduler, state)

    @classmethod
    def resume(
        cls,
        out_dir: str | os.PathLike,
        data_workers: int = 0,
        device: torch.device | str | None = None,
        dataset: TrainingDataset | None = None,
        val_dataset: TrainingDataset | None = None,
    ) -> Trainer:
        """Rebuilds the trainer from ``out_dir/checkpoint`` (model, optimizer, scheduler, step) on ``device``
        (default: the CPU); new segment. A run that trained on a dataset needs the same ``dataset`` again.

        Raises:
            FileNotFoundError: no checkpoint in ``out_dir``.
            ValueError: ``dataset`` is missing, or its size is not the checkpoint's.
        """
        directory = os.path.join(os.fspath(out_dir), CHECKPOINT_DIR)
        if not has_checkpoint(directory):
            raise FileNotFoundError(f"no checkpoint to resume in {directory}")
        payload = load_trainer_state(directory)
        state = payload["trainer"]
        model = SamModel.from_pretrained(directory)
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
        trainer.optimizer.load_state_dict(payload["optimizer"])
        trainer.scheduler.load_state_dict(payload["scheduler"])
        trainer.step, trainer.train_seconds = int(state["step"]), float(state["train_seconds"])
        trainer.segment = int(state["segment"]) + 1
        return trainer
