"""``sam_core.training.warmup_cosine`` as a Keras LearningRateSchedule (computed in the optimizer's graph)."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dualsam")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """``lr * warmup_cosine(step)``: linear warmup to ``lr`` over ``warmup_steps``, then cosine down to
    ``lr * min_ratio`` at ``total_steps`` (the torch trainer's LambdaLR, step for step).

    Args:
        lr: the peak learning rate.
        warmup_steps, total_steps, min_ratio: as ``sam_core.training.warmup_cosine``.
        accumulation_steps: micro-batches per optimizer step; the optimizer counts micro-batches when it
            accumulates gradients, so its count is divided by this to get the step.
    """

    def __init__(
        self, lr: float, *, warmup_steps: int, total_steps: int, min_ratio: float, accumulation_steps: int = 1
    ) -> None:
        self.lr, self.warmup_steps, self.total_steps = float(lr), int(warmup_steps), int(total_steps)
        self.min_ratio, self.accumulation_steps = float(min_ratio), int(accumulation_steps)

    def __call__(self, iterations: Any) -> tf.Tensor:
        step = tf.cast(iterations, tf.float64)
        step = tf.floor(step / self.accumulation_steps)
        warmup = (step + 1) / max(self.warmup_steps, 1)
        progress = tf.minimum((step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps), 1.0)
        cosine = self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + tf.cos(math.pi * progress))
        return tf.cast(self.lr * tf.where(step < self.warmup_steps, warmup, cosine), tf.float32)

    def get_config(self) -> dict[str, Any]:
        return dict(lr=self.lr, warmup_steps=self.warmup_steps, total_steps=self.total_steps,
                    min_ratio=self.min_ratio, accumulation_steps=self.accumulation_steps)  # fmt: skip
