"""The hyper-parameters of a training run, shared by the PyTorch and the Keras trainer (plain Python values only, so
a config saves as JSON and loads in either backend).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: SAM's loss weights (focal : dice : IoU MSE = 20 : 1 : 1).
FOCAL_WEIGHT = 20.0
DICE_WEIGHT = 1.0
IOU_WEIGHT = 1.0
#: Values of ``TrainConfig.autocast``.
AUTOCAST_DTYPES = (None, "bf16")


@dataclass
class LossWeights:
    """Weights of the mask losses and the IoU-head loss (``sam_loss``); the defaults are SAM's 20 : 1 : 1."""

    focal: float = FOCAL_WEIGHT
    dice: float = DICE_WEIGHT
    iou: float = IOU_WEIGHT

    def as_kwargs(self) -> dict[str, float]:
        return {"focal_weight": self.focal, "dice_weight": self.dice, "iou_weight": self.iou}


@dataclass
class PromptMix:
    """Which prompts a step trains on.

    Attributes:
        multi_point_probability: chance that a step's point prompts have 2-4 points (single-mask output)
            rather than one positive point (best of the 3 multimask outputs).
        negative_fraction: share of negative points among the extra points.
        boxes: also train on jittered box prompts (single-mask output).
        corrective_rounds: extra rounds after the point prompts, each adding a corrective point
            (``sam_core.training.corrective``) and feeding the previous low-res logits back as the mask input.
    """

    multi_point_probability: float = 0.25
    negative_fraction: float = 0.3
    boxes: bool = True
    corrective_rounds: int = 0


@dataclass
class TrainConfig:
    """Hyper-parameters of a run (saved in every checkpoint).

    Attributes:
        seed: data and prompt stream.
        total_steps: length of the cosine schedule (the run can stop earlier on a time budget and resume).
        batch_size: images per optimizer step.
        prompts_per_image: target objects per image (each gets a point and a box prompt).
        lr, min_lr_ratio, warmup_steps, weight_decay: AdamW with linear warmup, then cosine to lr * min_lr_ratio.
        grad_clip: max gradient norm (0: off).
        grad_accum_steps: micro-batches per optimizer step (``batch_size`` must be a multiple); the step's loss
            and gradient are those of the whole batch.
        autocast: ``"bf16"`` runs the forward pass under bfloat16 autocast, None in float32.
        freeze_vision_encoder, freeze_prompt_encoder: keep those parameters fixed.
        prompts: the prompt mix (see PromptMix).
        loss_weights: focal / dice / IoU loss weights (see LossWeights; default SAM's 20 : 1 : 1).
        scene: ``make_scene`` arguments of the synthetic training scenes (unused with a dataset).
        start_difficulty, curriculum_steps: difficulty of the synthetic scenes ramps linearly from start_difficulty
            to 1 over this many steps (0: always 1).
        log_every, checkpoint_every: in steps.
        eval_every, eval_scenes, eval_seed: periodic held-out evaluation (0: off) on at most ``eval_scenes``
            items of the validation dataset, or scenes of the synthetic stream ``eval_seed``.
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
    grad_accum_steps: int = 1
    autocast: str | None = None
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

    def __post_init__(self) -> None:
        for name in ("total_steps", "batch_size", "prompts_per_image", "grad_accum_steps", "log_every",
                     "checkpoint_every"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size % self.grad_accum_steps:
            raise ValueError(
                f"TrainConfig.batch_size ({self.batch_size}) must be a multiple of grad_accum_steps "
                f"({self.grad_accum_steps})"
            )
        if self.autocast not in AUTOCAST_DTYPES:
            raise ValueError(f"TrainConfig.autocast must be one of {AUTOCAST_DTYPES}, got {self.autocast!r}")
        if self.prompts.corrective_rounds < 0:
            raise ValueError(f"PromptMix.corrective_rounds must be >= 0, got {self.prompts.corrective_rounds}")

    @property
    def micro_batch_size(self) -> int:
        """Images per forward / backward pass: ``batch_size / grad_accum_steps``."""
        return self.batch_size // self.grad_accum_steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config saved by ``to_dict`` (older checkpoints without the newer fields get their defaults)."""
        values = dict(values)
        values["prompts"] = PromptMix(**values.get("prompts", {}))
        values["loss_weights"] = LossWeights(**values.get("loss_weights", {}))  # older checkpoints: SAM's weights
        return cls(**values)
