"""The default tiny SAM and its training recipe (see scripts/train_default.py).

The model works in a 256-pixel frame (the processor resizes the long side to 256) with 8-pixel patches: a
32 x 32 embedding grid and 128 x 128 mask logits, like a 1024-pixel SAM with 32-pixel patches but with 16x less
pre-processing and patch-embedding work. It uses absolute positions only (no decomposed relative positions),
which makes attention ~2x cheaper to train at this size.

The recipe is sized for one CUDA GPU, where the data workers (scene drawing, not the model) set the pace: about
12 minutes there; see the model's TRAINING.md for the commands and the measured rates. The model's first
version (4 layers x 128, 3000 steps x 16 images) was trained in 2 hours on 2 CPU cores and missed the quality bar
on full-difficulty scenes: it was still improving when its budget ran out.
"""

from __future__ import annotations

import torch

from sam_core.config import SamConfig
from sam_core.training.config import LossWeights, PromptMix, TrainConfig

from ..modeling import SamModel
from .initialization import init_for_training

DEFAULT_WIDTH = 64  # vision output_channels == prompt / decoder hidden size == 2 * num_pos_feats
DEFAULT_IMAGE_SIZE, DEFAULT_PATCH = 256, 8


def default_model_config() -> SamConfig:
    """The default small SAM (3 M parameters): ViT 6 layers x 192 wide on a 32 x 32 grid (windows of 8, global
    attention in layers 2 and 5), 64-wide prompt encoder and decoder."""
    return SamConfig(
        vision_config=dict(
            image_size=DEFAULT_IMAGE_SIZE, patch_size=DEFAULT_PATCH, hidden_size=192, num_hidden_layers=6,
            num_attention_heads=6, mlp_dim=768, output_channels=DEFAULT_WIDTH, window_size=8,
            global_attn_indexes=[2, 5], use_rel_pos=False, num_pos_feats=DEFAULT_WIDTH // 2,
        ),
        prompt_encoder_config=dict(
            hidden_size=DEFAULT_WIDTH, image_size=DEFAULT_IMAGE_SIZE, patch_size=DEFAULT_PATCH, mask_input_channels=16
        ),
        mask_decoder_config=dict(
            hidden_size=DEFAULT_WIDTH, mlp_dim=4 * DEFAULT_WIDTH, num_attention_heads=4,
            iou_head_hidden_dim=DEFAULT_WIDTH,
        ),
    )  # fmt: skip


def default_train_config(**overrides) -> TrainConfig:
    """The default recipe: 12000 steps x 32 images x 4 objects (a point and a box prompt each), a curriculum from
    easy to full scenes over the first 40%, AdamW 1.5e-3 with warmup + cosine. ``total_steps`` sets the schedule's
    length; the curriculum and the warmup follow it.

    The loss is focal + dice + IoU MSE at 1 : 1 : 1, not SAM's 20 : 1 : 1: SAM fine-tunes pretrained weights whose
    masks are already close, but from scratch the per-pixel focal term (alpha 0.25 weights the ~90% background
    pixels 3 : 1) times 20 outweighs the dice gradient and drives every logit negative before the model learns to
    localize, so training IoU collapses to exactly 0 (with 20 : 1 it stayed 0.0 from step 50 to 300)."""
    total_steps = int(overrides.get("total_steps", 12000))
    values = dict(
        seed=0, total_steps=total_steps, batch_size=32, prompts_per_image=4, lr=1.5e-3,
        warmup_steps=max(1, total_steps // 40), weight_decay=0.05, grad_clip=1.0, start_difficulty=0.2,
        curriculum_steps=int(0.4 * total_steps),
        prompts=PromptMix(multi_point_probability=0.2, negative_fraction=0.3, boxes=True, corrective_rounds=0),
        loss_weights=LossWeights(focal=1.0, dice=1.0, iou=1.0),
        checkpoint_every=1000, log_every=20, eval_every=2000, eval_scenes=30,
    )  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)


def build_default_model(seed: int = 0) -> SamModel:
    """A freshly initialized default model for training from scratch (deterministic for ``seed``).

    Linear and conv layers get PyTorch's default (fan-in scaled) init, see ``initialization.init_for_training``:
    with SamModel's transformers-style Normal(0, 0.02) the fresh mask logits are ~1e-4 and prompt-independent,
    and the default recipe collapses to empty masks.
    """
    torch.manual_seed(seed)
    return init_for_training(SamModel(default_model_config()))
