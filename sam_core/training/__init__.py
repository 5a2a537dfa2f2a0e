"""The framework-neutral half of training (numpy only): the run's config, the LR schedule, prompt sampling, the
batches of each step and the arrays both backends train from (``BatchSource.arrays``), and corrective points
picked from pre-drawn uniforms.

``sam_torch.training`` and ``sam_tf.training`` build their trainers on this contract, so the two backends see the
same batches and prompts for the same seed.
"""

from .batch import (
    StepPrompts,
    TrainingBatch,
    box_prompts,
    build_batch,
    draw_prompts,
    point_prompts,
    processor_for_config,
)
from .config import DICE_WEIGHT, FOCAL_WEIGHT, IOU_WEIGHT, LossWeights, PromptMix, TrainConfig
from .corrective import corrective_points, valid_cells
from .embedding_cache import EmbeddingCache
from .schedule import warmup_cosine
from .source import BatchSource, split_arrays, training_arrays

__all__ = [
    "DICE_WEIGHT",
    "FOCAL_WEIGHT",
    "IOU_WEIGHT",
    "BatchSource",
    "EmbeddingCache",
    "LossWeights",
    "PromptMix",
    "StepPrompts",
    "TrainConfig",
    "TrainingBatch",
    "box_prompts",
    "build_batch",
    "corrective_points",
    "draw_prompts",
    "point_prompts",
    "processor_for_config",
    "split_arrays",
    "training_arrays",
    "valid_cells",
    "warmup_cosine",
]
