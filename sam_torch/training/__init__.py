"""Training a SamModel in PyTorch on synthetic scenes or any ``sam_core.datasets`` dataset: losses, the step
objective, the training loop and evaluation. The framework-neutral half (config, batches, prompts, schedule) lives in
``sam_core.training`` and is re-exported here.
"""

from sam_core.training import BatchSource, LossWeights, PromptMix, TrainConfig, training_arrays, warmup_cosine

from .evaluate import EvalResult, evaluate, evaluate_predictions, model_predictor
from .losses import dice_loss, mask_iou, sam_loss, sigmoid_focal_loss
from .trainer import Trainer

__all__ = [
    "BatchSource",
    "EvalResult",
    "LossWeights",
    "PromptMix",
    "TrainConfig",
    "Trainer",
    "dice_loss",
    "evaluate",
    "evaluate_predictions",
    "mask_iou",
    "model_predictor",
    "sam_loss",
    "sigmoid_focal_loss",
    "training_arrays",
    "warmup_cosine",
]
