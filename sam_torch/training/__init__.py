"""Fine-tuning SamModel on synthetic scenes: losses, prompt sampling, the training loop and evaluation."""

from .evaluate import EvalResult, evaluate, evaluate_predictions, model_predictor
from .losses import dice_loss, mask_iou, sam_loss, sigmoid_focal_loss
from .objective import LossWeights, PromptMix
from .trainer import TrainConfig, Trainer

__all__ = [
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
]
