"""Training a TFSamModel the Keras way (``compile()`` / ``fit()``) on synthetic scenes or any ``sam_core.datasets``
dataset, on the same batches and prompts as ``sam_torch.training``: losses, the step objective, the tf.data input,
callbacks, the trainer (the torch Trainer's API) and evaluation. The framework-neutral half (config, batches,
prompts, schedule) lives in ``sam_core.training`` and is re-exported here.
"""

from sam_core.training import BatchSource, LossWeights, PromptMix, TrainConfig, training_arrays, warmup_cosine

from .callbacks import SavePretrainedCheckpoint
from .data import tf_dataset
from .evaluate import EvalResult, evaluate, evaluate_predictions, model_predictor
from .losses import dice_loss, mask_iou, sam_loss, sigmoid_focal_loss
from .objective import step_loss
from .schedule import WarmupCosine
from .trainer import Trainer

__all__ = [
    "BatchSource",
    "EvalResult",
    "LossWeights",
    "PromptMix",
    "SavePretrainedCheckpoint",
    "TrainConfig",
    "Trainer",
    "WarmupCosine",
    "dice_loss",
    "evaluate",
    "evaluate_predictions",
    "mask_iou",
    "model_predictor",
    "sam_loss",
    "sigmoid_focal_loss",
    "step_loss",
    "tf_dataset",
    "training_arrays",
    "warmup_cosine",
]
