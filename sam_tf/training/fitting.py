"""Keras-native training of TFSamModel: ``compile()`` then ``fit()`` / ``evaluate()`` on the training arrays.

A user trains the Keras way::

    model.vision_encoder.trainable = False          # optional freezing, before compile()
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=0.05, global_clipnorm=1.0),
        loss_weights=LossWeights(focal=20, dice=1, iou=1),   # default: SAM's 20 : 1 : 1
        prompt_mix=PromptMix(boxes=True),                    # the data's mix: without boxes, no box_iou
        jit_compile=True,                                    # optional
    )
    model.fit(tf_dataset(source, steps=500), epochs=1, validation_data=tf_dataset(val_source, 20),
              callbacks=[keras.callbacks.EarlyStopping("val_loss"), SavePretrainedCheckpoint("ckpt")])

Each element of the dataset is one step's dict of ``sam_core.training.BatchSource.arrays`` (see
``sam_tf.training.data.tf_dataset``); the prompts come with the data, so both backends train on the same prompts.
The loss weights and the prompt mix are compile() arguments, kept as the model attributes
``training_loss_weights`` and ``training_prompt_mix`` (the weights are read when the train step is traced: change
them before fit, or recompile). The prompts themselves come with the data (the BatchSource's mix); the corrective
rounds run when the data has ``corrective_uniforms``. There is no Keras ``loss=``: the loss is SAM's
(``step_loss``).

Metrics (logged by fit, with ``val_`` for validation data): loss, focal, dice, iou (the IoU-head MSE),
point_iou and box_iou (the IoU of the supervised mask, training prompts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from sam_core.training.config import LossWeights, PromptMix

from .objective import step_loss

#: The step_loss logs tracked as metrics besides the loss (box_iou only when the prompt mix has boxes).
METRIC_NAMES = ("focal", "dice", "iou", "point_iou", "box_iou")


def _loss_weights(value: LossWeights | Mapping[str, float] | None) -> LossWeights:
    if value is None:
        return LossWeights()
    if isinstance(value, LossWeights):
        return value
    if isinstance(value, Mapping):
        return LossWeights(**value)
    raise TypeError(f"loss_weights must be a LossWeights or a dict of focal / dice / iou, got {type(value).__name__}")


class TrainingMixin:
    """compile() / train_step / test_step of TFSamModel (mixed into the keras.Model)."""

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        *,
        loss_weights: LossWeights | Mapping[str, float] | None = None,
        prompt_mix: PromptMix | None = None,
        **kwargs: Any,
    ) -> None:
        """Configures training with SAM's loss (keras.Model.compile's other arguments pass through).

        Args:
            optimizer: any Keras optimizer; for torch's AdamW recipe exclude the 1-D variables from weight decay
                (``optimizer.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables
                if len(v.shape) < 2])`` before fit), as ``sam_tf.training.Trainer`` does.
            loss: must stay None: the loss is SAM's focal + dice + IoU MSE (``step_loss``).
            loss_weights: LossWeights (or a dict focal / dice / iou); default SAM's 20 : 1 : 1.
            prompt_mix: the PromptMix the data was drawn with (a record; without boxes there is no box_iou
                metric). The prompts themselves come with the data. Default ``PromptMix()``.
            **kwargs: keras.Model.compile arguments (jit_compile, run_eagerly, steps_per_execution, ...).

        Raises:
            ValueError: a Keras ``loss``, or ``metrics`` (the metrics are fixed, see the module docstring).
            TypeError: loss_weights or prompt_mix of the wrong type.
        """
        if loss is not None or kwargs.get("metrics") or kwargs.get("weighted_metrics"):
            raise ValueError("TFSamModel.compile: loss / metrics are fixed (SAM's loss); set loss_weights instead")
        if prompt_mix is not None and not isinstance(prompt_mix, PromptMix):
            raise TypeError(f"prompt_mix must be a sam_core.training.PromptMix, got {type(prompt_mix).__name__}")
        mix = prompt_mix or PromptMix()
        self.training_loss_weights = _loss_weights(loss_weights)
        self.training_prompt_mix = mix
        names = [name for name in METRIC_NAMES if mix.boxes or name != "box_iou"]
        # Created outside Keras' attribute tracking: a built model takes no new tracked state.
        object.__setattr__(self, "_sam_metrics", [keras.metrics.Mean(name=name) for name in names])
        super().compile(optimizer=optimizer, **kwargs)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [*super().metrics, *getattr(self, "_sam_metrics", ())]

    def _track(self, logged: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self._loss_tracker.update_state(logged["loss"])
        for metric in self._sam_metrics:
            if metric.name in logged:
                metric.update_state(logged[metric.name])
        return {metric.name: metric.result() for metric in self.metrics}

    def _step_loss(self, data: Any) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        arrays, _, _ = keras.utils.unpack_x_y_sample_weight(data)  # train_on_batch passes (x, None, None)
        return step_loss(self, arrays, self.training_loss_weights)

    def train_step(self, data: Mapping[str, Any]) -> dict[str, tf.Tensor]:
        """One optimizer step on one step's arrays; variables without a gradient in this step are left alone
        (no update, no weight decay), as torch's optimizers skip parameters whose ``grad`` is None."""
        variables = self.trainable_variables
        if not self.optimizer.built:
            self.optimizer.build(variables)
        with tf.GradientTape() as tape:
            loss, logged = self._step_loss(data)
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self._track(logged)

    def test_step(self, data: Mapping[str, Any]) -> dict[str, tf.Tensor]:
        """The step loss and metrics without an update (``fit(validation_data=...)``, ``evaluate``)."""
        _, logged = self._step_loss(data)
        return self._track(logged)
