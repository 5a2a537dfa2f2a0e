"""The fine-tuning loop: synthetic batches through SamProcessor, AdamW with warmup + cosine, gradient clipping,
freezing options, resumable checkpoints and a JSON-lines log.

Training is deterministic for a seed: step ``s`` draws its scenes (items ``s*B .. s*B+B-1`` of the seeded
dataset) and its prompts (``default_rng([seed, s])``) from the step number alone, and the model, optimizer and
scheduler states are checkpointed, so a resumed run continues exactly as an uninterrupted one. Each resume starts
a new log ``segment``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sam_core.processing import SamProcessor

from ..modeling import SamModel
from .batches import BatchSource, prefetched
from .checkpoint import has_checkpoint, load_trainer_state, save_checkpoint
from .data import TrainingBatch, processor_for_config
from .evaluate import evaluate
from .objective import LossWeights, PromptMix, step_loss

CHECKPOINT_DIR = "checkpoint"
FINAL_DIR = "model"
LOG_NAME = "train_log.jsonl"


@dataclass
class TrainConfig:
    """Hyper-parameters of a run (saved in every checkpoint).

    Attributes:
        seed: data and prompt stream.
        total_steps: length of the cosine schedule (the run can stop earlier on a time budget and resume).
        batch_size: images per step.
        prompts_per_image: target objects per image (each gets a point and a box prompt).
        lr, min_lr_ratio, warmup_steps, weight_decay: AdamW with linear warmup, then cosine to lr * min_lr_ratio.
        grad_clip: max gradient norm (0: off).
        freeze_vision_encoder, freeze_prompt_encoder: keep those parameters fixed.
        prompts: the prompt mix (see PromptMix).
        loss_weights: focal / dice / IoU loss weights (see LossWeights; default SAM's 20 : 1 : 1).
        scene: ``make_scene`` arguments of the training scenes.
        start_difficulty, curriculum_steps: difficulty ramps linearly from start_difficulty to 1 over this many
            steps (0: always 1).
        log_every, checkpoint_every: in steps.
        eval_every, eval_scenes, eval_seed: periodic held-out evaluation (0: off).
        init_from: the weights the run started from (a record only; None: initialized from scratch).
    """

    seed: int = 0
    total_steps: int = 1000
    batch_size: int = 8
    prompts_per_image: int = 4
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    freeze_vision_encoder: bool = False
    freeze_prompt_encoder: bool = False
    prompts: PromptMix = field(default_factory=PromptMix)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    scene: dict[str, Any] = field(default_factory=dict)
    start_difficulty: float = 0.0
    curriculum_steps: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    eval_every: int = 0
    eval_scenes: int = 50
    eval_seed: int = 1_000_003
    init_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        values["prompts"] = PromptMix(**values.get("prompts", {}))
        values["loss_weights"] = LossWeights(**values.get("loss_weights", {}))  # older checkpoints: SAM's weights
        return cls(**values)


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """LR multiplier: linear warmup to 1 over ``warmup_steps``, then cosine down to ``min_ratio`` at the end."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class Trainer:
    """Trains a SamModel on synthetic scenes.

    Args:
        model: the model (trained in place).
        config: the run's hyper-parameters.
        out_dir: where the checkpoint, the final model and the log go.
        processor: the processor (default: the one matching the model's frame).
        data_workers: processes that draw the scenes ahead of the optimization (0: inline). The batches are the
            same either way.
        device: where the model trains (default: where it is). Batches are drawn on the CPU and moved there.
    """

    def __init__(
        self,
        model: SamModel,
        config: TrainConfig,
        out_dir: str | os.PathLike,
        processor: SamProcessor | None = None,
        data_workers: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        self.device = torch.device(device) if device is not None else model.device
        model.to(self.device)
        self.model, self.config, self.out_dir = model, config, os.fspath(out_dir)
        self.data_workers = data_workers
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
            config.start_difficulty, config.curriculum_steps, config.prompts,
        )  # fmt: skip
        self.step, self.segment, self.train_seconds = 0, 0, 0.0

    # ------------------------------------------------------------------------------------------------ steps
    def difficulty(self, step: int) -> float:
        return self.source.difficulty(step)

    def batch_for_step(self, step: int) -> tuple[TrainingBatch, np.random.Generator]:
        """The (TrainingBatch, prompt Generator) of ``step``; a pure function of the seed and the step."""
        return self.source(step)

    def train_step(self, prepared: tuple[TrainingBatch, np.random.Generator] | None = None) -> dict[str, float]:
        """Runs one optimization step (on ``prepared``, default ``batch_for_step(step)``); returns its logged values."""
        self.model.train()
        if self.config.freeze_vision_encoder:
            self.model.vision_encoder.eval()
        batch, rng = prepared if prepared is not None else self.batch_for_step(self.step)
        loss, logged = step_loss(
            self.model, self.processor, batch.to(self.device), rng, self.config.prompts, self.config.loss_weights
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            logged["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip))
        logged["lr"] = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return logged

    def fit(self, max_minutes: float | None = None, max_steps: int | None = None) -> dict[str, float]:
        """Trains until ``total_steps``, ``max_steps`` more steps, or ``max_minutes`` of wall time.

        Checkpoints every ``checkpoint_every`` steps and at the end; writes the final model to ``out_dir/model``
        when the schedule is complete. Returns the last step's logged values.
        """
        os.makedirs(self.out_dir, exist_ok=True)
        start, cpu_start, last = time.perf_counter(), time.process_time(), {}
        total = self.config.total_steps
        stop_step = total if max_steps is None else min(total, self.step + max_steps)
        first_step, saved_step = self.step, None
        # Tests may replace batch_for_step; the prefetching workers only know the configured source.
        inline = self.data_workers <= 0 or "batch_for_step" in vars(self)
        batches = None if inline else prefetched(self.source, self.step, stop_step, self.data_workers)
        while self.step < stop_step:
            tick = time.perf_counter()
            last = self.train_step(None if batches is None else next(batches))
            self.train_seconds += time.perf_counter() - tick
            elapsed = time.perf_counter() - start
            out_of_time = max_minutes is not None and elapsed > 60 * max_minutes
            if self.step % self.config.log_every == 0 or self.step == stop_step or out_of_time:
                done = self.step - first_step
                self._log({**last, "step": self.step, "wall_s": round(elapsed, 3),
                           "cpu_s": round(time.process_time() - cpu_start, 3),
                           "train_s": round(self.train_seconds, 3), "steps_per_s": done / elapsed,
                           "images_per_s": done * self.config.batch_size / elapsed})  # fmt: skip
            if self.config.eval_every and self.step % self.config.eval_every == 0:
                self._log({"event": "eval", "step": self.step, **self.evaluate(self.config.eval_scenes)})
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

    def evaluate(self, num_scenes: int) -> dict[str, float]:
        result = evaluate(self.model, self.processor, num_scenes=num_scenes, seed=self.config.eval_seed)
        return {"point_miou": result.point_miou, "box_miou": result.box_miou}

    # ------------------------------------------------------------------------------------------------ state
    def _log(self, record: dict[str, Any]) -> None:
        record = {"segment": self.segment, "time": round(time.time(), 3), **record}
        with open(os.path.join(self.out_dir, LOG_NAME), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def save_checkpoint(self) -> str:
        state = {"step": self.step, "segment": self.segment, "train_seconds": self.train_seconds,
                 "config": self.config.to_dict()}  # fmt: skip
        directory = os.path.join(self.out_dir, CHECKPOINT_DIR)
        return save_checkpoint(directory, self.model, self.processor, self.optimizer, self.scheduler, state)

    @classmethod
    def resume(
        cls, out_dir: str | os.PathLike, data_workers: int = 0, device: torch.device | str | None = None
    ) -> Trainer:
        """Rebuilds the trainer from ``out_dir/checkpoint`` (model, optimizer, scheduler, step) on ``device``
        (default: the CPU); new segment."""
        directory = os.path.join(os.fspath(out_dir), CHECKPOINT_DIR)
        if not has_checkpoint(directory):
            raise FileNotFoundError(f"no checkpoint to resume in {directory}")
        payload = load_trainer_state(directory)
        state = payload["trainer"]
        model = SamModel.from_pretrained(directory)
        processor = SamProcessor.from_pretrained(directory)
        trainer = cls(model, TrainConfig.from_dict(state["config"]), out_dir, processor, data_workers, device)
        trainer.optimizer.load_state_dict(payload["optimizer"])
        trainer.scheduler.load_state_dict(payload["scheduler"])
        trainer.step, trainer.train_seconds = int(state["step"]), float(state["train_seconds"])
        trainer.segment = int(state["segment"]) + 1
        return trainer
