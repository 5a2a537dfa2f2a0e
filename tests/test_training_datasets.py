"""The PyTorch Trainer on a dataset: gradient accumulation equals the full batch, bf16 autocast stays near float32,
resume with the dataset continues exactly (trainer state loads with weights_only=True), evaluation on the
validation dataset reports per category. Micro models (128-pixel frame) on small demo images: seconds each."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from sam_core.datasets import Subset
from sam_core.datasets.demo import DemoShapes
from sam_core.training import PromptMix, TrainConfig
from sam_torch.modeling import SamModel
from sam_torch.training import Trainer
from sam_torch.training.checkpoint import TRAINER_STATE_NAME
from sam_torch.training.trainer import CHECKPOINT_DIR, LOG_NAME
from tests.helpers.training import micro_config

DATA = DemoShapes(3, 8, long_side=(64, 112))
TRAIN, VAL = Subset(DATA, range(6)), Subset(DATA, [6, 7])
#: Loss and gradient norm of one step with and without accumulation: the same sums in another order (fp32).
ACCUMULATION_RTOL = 1e-5
#: Weights after one AdamW step from those gradients (lr 3e-3 times a normalized step).
ACCUMULATION_WEIGHTS_ATOL = 1e-6
#: bfloat16 keeps 8 mantissa bits (~0.4% per rounding); the micro model's loss stays within 5% of float32.
BF16_LOSS_RTOL = 5e-2


def micro_model(seed: int = 0) -> SamModel:
    torch.manual_seed(seed)
    return SamModel(micro_config())


def train_config(**overrides) -> TrainConfig:
    values = dict(total_steps=4, batch_size=4, prompts_per_image=2, lr=3e-3, warmup_steps=1, log_every=1,
                  checkpoint_every=1000, prompts=PromptMix(corrective_rounds=1), eval_scenes=2)  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)


def test_gradient_accumulation_equals_the_full_batch(tmp_path):
    whole = Trainer(micro_model(), train_config(), tmp_path / "whole", dataset=TRAIN)
    halves = Trainer(micro_model(), train_config(grad_accum_steps=2), tmp_path / "halves", dataset=TRAIN)
    arrays = whole.arrays_for_step(0)
    assert "corrective_uniforms" in arrays  # the corrective round is split along B too
    for name, value in halves.arrays_for_step(0).items():
        np.testing.assert_array_equal(value, arrays[name], err_msg=name)
    full, accumulated = whole.train_step(arrays), halves.train_step(arrays)
    for name in ("loss", "point", "box", "correct", "grad_norm"):
        assert accumulated[name] == pytest.approx(full[name], rel=ACCUMULATION_RTOL), name
    for (name, a), b in zip(whole.model.named_parameters(), halves.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=ACCUMULATION_WEIGHTS_ATOL, msg=name)


def test_bf16_autocast_stays_near_float32(tmp_path):
    config = train_config(prompts=PromptMix(corrective_rounds=0))
    plain = Trainer(micro_model(), config, tmp_path / "fp32", dataset=TRAIN)
    cast = Trainer(micro_model(), train_config(autocast="bf16", prompts=config.prompts), tmp_path / "bf16",
                   dataset=TRAIN)  # fmt: skip
    arrays = plain.arrays_for_step(0)
    before = [p.detach().clone() for p in cast.model.parameters()]
    reference, logged = plain.train_step(arrays), cast.train_step(arrays)
    assert logged["loss"] == pytest.approx(reference["loss"], rel=BF16_LOSS_RTOL)
    assert logged["loss"] != reference["loss"]  # the autocast did run in bfloat16
    assert all(p.dtype == torch.float32 for p in cast.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, cast.model.parameters()))


def test_dataset_run_resumes_exactly_and_evaluates_per_category(tmp_path):
    config = train_config(total_steps=3)
    straight = Trainer(micro_model(), config, tmp_path / "straight", dataset=TRAIN)
    straight_losses = [straight.train_step()["loss"] for _ in range(3)]
    first = Trainer(micro_model(), config, tmp_path / "split", dataset=TRAIN, val_dataset=VAL)
    first.fit(max_steps=2)
    state = torch.load(tmp_path / "split" / CHECKPOINT_DIR / TRAINER_STATE_NAME, weights_only=True)
    assert state["trainer"]["step"] == 2 and state["trainer"]["dataset_size"] == 6
    with pytest.raises(ValueError, match="dataset: .* 6 items, got none"):
        Trainer.resume(tmp_path / "split")
    with pytest.raises(ValueError, match="6 items, got 8 items"):
        Trainer.resume(tmp_path / "split", dataset=DATA)
    resumed = Trainer.resume(tmp_path / "split", dataset=TRAIN, val_dataset=VAL)
    resumed.fit()
    records = [json.loads(line) for line in open(os.path.join(tmp_path / "split", LOG_NAME))]
    assert [(r["segment"], r["step"]) for r in records] == [(0, 1), (0, 2), (1, 3)]
    assert abs(records[-1]["loss"] - straight_losses[-1]) < 1e-5
    summary = resumed.evaluate()
    categories = {int(k) for k in summary["per_category"]}
    expected = {int(c) for i in (6, 7) for c in DATA[i].category_ids}
    assert categories == expected and summary["objects"] == sum(len(DATA[i].masks) for i in (6, 7))
    assert 0.0 <= summary["point_miou"] <= 1.0 and 0.0 <= summary["box_miou"] <= 1.0


def test_frozen_encoder_embeddings_are_cached_with_the_same_losses(tmp_path):
    config = train_config(freeze_vision_encoder=True, prompts=PromptMix(corrective_rounds=0))
    cached = Trainer(micro_model(), config, tmp_path / "cached", dataset=TRAIN)
    plain = Trainer(micro_model(), config, tmp_path / "plain", dataset=TRAIN)
    plain.embedding_cache = None  # computed in every step
    for step in (0, 1, 0):  # the third step sees step 0's images again: from the cache
        arrays = cached.arrays_for_step(step)
        first, second = cached.train_step(arrays), plain.train_step(arrays)
        # The cache computes a step's new images in one batch: the same sums in another blocking (fp32).
        assert first["loss"] == pytest.approx(second["loss"], rel=ACCUMULATION_RTOL)
    assert 0 < len(cached.embedding_cache) <= 8 and cached.embedding_cache.encoded == len(cached.embedding_cache)
