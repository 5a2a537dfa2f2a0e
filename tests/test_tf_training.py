"""Keras-native training of TFSamModel (sam_tf.training): compile() / fit() on tf_dataset, a jit-compiled train step
equal to the eager one, freezing through ``trainable``, the standard callbacks (progress bar, EarlyStopping,
SavePretrainedCheckpoint), the LR schedule, a short Keras fine-tune that improves held-out mIoU
(tests/test_finetune.py's run on the tf backend), and the Trainer's checkpoints resuming like an uninterrupted
run. Micro config except the fine-tune (the shipped default model); on 2 loaded CPU cores the fine-tune takes ~2
minutes, the others seconds to ~2.5 minutes (graph tracing dominates).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from dualsam.evaluate import evaluate as evaluate_use_case
from dualsam.finetune import finetune
from sam_core.datasets.demo import DemoShapes, write_coco
from sam_core.training import BatchSource, LossWeights, PromptMix, TrainConfig, processor_for_config, warmup_cosine
from sam_tf import TFSamModel
from sam_tf.pretrained import load_state_into, model_state
from sam_tf.training import SavePretrainedCheckpoint, Trainer, WarmupCosine, tf_dataset
from sam_tf.training.objective import step_loss
from tests.helpers.sam_weights import informative_state
from tests.helpers.training import SCENE, micro_config

LOSS_RTOL = 1e-5  # XLA fuses and reorders float32 arithmetic
WEIGHT_ATOL = 1e-5  # after one AdamW step of lr 1e-3
#: Above float32 noise of the analytically zero gradients (see test_training_parity's TORCH_EPS).
EPSILON = 1e-6
#: tests/test_finetune.py's bar for the same run in torch (measured 0.257 -> 0.464 in both backends).
MIN_POINT_GAIN = 0.1
MIX = PromptMix(multi_point_probability=0.5, negative_fraction=0.3, boxes=True, corrective_rounds=1)


def micro_model(seed: int = 0) -> TFSamModel:
    """The micro model with informative weights (the default init gives prompt-independent ~1e-4 logits)."""
    model = TFSamModel(micro_config())
    shapes = {key: tuple(value.shape) for key, value in model_state(model).items()}
    load_state_into(model, informative_state(shapes, seed=seed))
    return model


def source(mix: PromptMix = MIX, seed: int = 0, batch_size: int = 2) -> BatchSource:
    return BatchSource(seed, batch_size, 2, processor_for_config(micro_config()), dict(SCENE), prompts=mix)


def adamw() -> keras.optimizers.AdamW:
    return keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.05, epsilon=EPSILON, global_clipnorm=1.0)


@pytest.mark.slow  # XLA compiles the whole train step: over a minute on 2 cores, run by make test-slow
def test_jit_compiled_train_step_equals_eager():
    arrays = source().arrays(1)
    assert "corrective_uniforms" in arrays and "input_boxes" in arrays
    models = {}
    for jit in (True, False):
        model = micro_model()
        model.compile(optimizer=adamw(), loss_weights=LossWeights(5.0, 1.0, 2.0), prompt_mix=MIX, jit_compile=jit,
                      run_eagerly=not jit)  # fmt: skip
        logs = model.train_on_batch(arrays, return_dict=True)
        models[jit] = (model, logs)
    (jitted, jit_logs), (eager, eager_logs) = models[True], models[False]
    assert jitted.jit_compile and not eager.jit_compile
    for name in ("loss", "focal", "dice", "iou", "point_iou", "box_iou"):
        assert jit_logs[name] == pytest.approx(eager_logs[name], rel=LOSS_RTOL, abs=1e-7), name
    expected = float(step_loss(micro_model(), arrays, LossWeights(5.0, 1.0, 2.0))[0])
    assert eager_logs["loss"] == pytest.approx(expected, rel=LOSS_RTOL)
    before = model_state(micro_model())
    after_jit, after_eager = model_state(jitted), model_state(eager)
    for key, value in after_eager.items():
        assert np.abs(after_jit[key] - value).max() <= WEIGHT_ATOL, key
    assert sum(not np.array_equal(before[key], value) for key, value in after_eager.items()) > 100


def test_freezing_keeps_weights_bit_identical():
    """Frozen through ``trainable = False``: the image and prompt encoders stay bit-identical, the decoder moves."""
    model = micro_model()
    model.vision_encoder.trainable = False
    model.prompt_encoder.trainable = False
    model.compile(optimizer=adamw(), prompt_mix=MIX, run_eagerly=True)
    before = model_state(model)
    model.train_on_batch(source().arrays(1))
    for key, value in model_state(model).items():
        frozen = key.startswith(("vision_encoder", "prompt_encoder", "shared_image_embedding"))
        assert np.array_equal(value, before[key]) == frozen, key


def test_fit_with_standard_callbacks_and_checkpoints(tmp_path, capsys):
    """fit() shows the progress bar, EarlyStopping stops on val_loss, and SavePretrainedCheckpoint writes a
    save_pretrained directory that loads back with the trained weights."""
    model = micro_model()
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-9, epsilon=EPSILON), prompt_mix=MIX)
    train, val = tf_dataset(source(), steps=2), tf_dataset(source(seed=9), steps=1)
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=1.0)
    saver = SavePretrainedCheckpoint(tmp_path / "ckpt-{epoch}")
    history = model.fit(train, validation_data=val, epochs=5, verbose=1, callbacks=[stopper, saver])
    out = capsys.readouterr().out
    assert "2/2" in out and "val_loss" in out and "point_iou" in out  # Keras' progress bar
    assert len(history.history["loss"]) == 2  # no val_loss gain of 1.0 at lr 1e-9: stopped after patience 0
    assert set(history.history) >= {"loss", "focal", "dice", "iou", "point_iou", "box_iou", "val_loss", "val_box_iou"}
    assert saver.saved == [str(tmp_path / "ckpt-1"), str(tmp_path / "ckpt-2")]
    loaded = TFSamModel.from_pretrained(tmp_path / "ckpt-2")
    for key, value in model_state(loaded).items():
        np.testing.assert_array_equal(value, model_state(model)[key])
    assert json.loads((tmp_path / "ckpt-2" / "trainer_state.json").read_text()) == {"step": 4}


def test_short_keras_finetune_improves_held_out_miou(tmp_path):
    """tests/test_finetune.py's run through the Keras Trainer (compile / fit inside): 12 steps x 4 images of the
    shipped default model, image encoder frozen, lr 1e-3, on 24 demo images (objects it has never seen); 8
    held-out images."""
    train = write_coco(DemoShapes(11, 24, long_side=(96, 160)), tmp_path / "train")
    heldout = write_coco(DemoShapes(12, 8, long_side=(96, 160)), tmp_path / "heldout")
    before = evaluate_use_case(str(heldout), backend="tf")
    report = finetune(str(train), backend="tf", steps=12, val_split=0.0, out=tmp_path / "run", lr=1e-3,
                      freeze=("image_encoder",), progress=False)  # fmt: skip
    after = evaluate_use_case(str(heldout), model=report.model_dir, backend="tf")
    print(f"held-out point mIoU {before['point_miou']:.3f} -> {after['point_miou']:.3f}, "
          f"box {before['box_miou']:.3f} -> {after['box_miou']:.3f}")  # fmt: skip
    assert after["point_miou"] >= before["point_miou"] + MIN_POINT_GAIN
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 12


def _key_bias_entries(key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The entries of an attention key bias: the decoder's k_proj biases and the middle third of the ViT's qkv."""
    noise = np.zeros(shape, dtype=bool)
    if key.endswith("k_proj.bias"):
        noise[:] = True
    elif key.endswith("attn.qkv.bias"):
        third = shape[0] // 3
        noise[third : 2 * third] = True
    return noise


# Three Keras trainers, each tracing its train step: about a minute on two cores, so behind the slow marker (the torch
# trainer's resume test, tests/test_training.py, runs in the default suite).
@pytest.mark.slow
def test_resume_continues_like_an_uninterrupted_run(tmp_path):
    config = TrainConfig(total_steps=4, batch_size=2, prompts_per_image=2, lr=3e-3, warmup_steps=1, grad_accum_steps=2,
                         scene=dict(SCENE), prompts=PromptMix(multi_point_probability=0.0), checkpoint_every=2,
                         log_every=1)  # fmt: skip
    straight = Trainer(micro_model(), config, tmp_path / "straight")
    straight.fit()
    first = Trainer(micro_model(), config, tmp_path / "split")
    first.fit(max_steps=3)
    assert first.step == 3
    resumed = Trainer.resume(tmp_path / "split")
    assert resumed.step == 3 and resumed.segment == 1
    resumed.fit()
    assert resumed.step == 4
    expected = model_state(straight.model)
    for key, value in model_state(resumed.model).items():
        noise = _key_bias_entries(key, value.shape)
        # float32 rounding: threaded reductions round differently from run to run, and Adam divides by sqrt(v):
        # seen up to 1.8e-4 relative (a bias of 0.0143, 2.5e-6 apart) when other tests ran first in the process.
        # A wrong resume (optimizer state, schedule or data position lost) moves weights by ~lr = 3e-3, far above.
        np.testing.assert_allclose(value[~noise], expected[key][~noise], rtol=1e-3, atol=1e-6, err_msg=key)
        # The attention key biases have a gradient that is zero up to rounding, which Adam's update
        # (~ lr * g / (|g| + eps)) scales to a fraction of lr: only bounded by the steps taken.
        assert np.abs(value[noise] - expected[key][noise]).max(initial=0.0) <= config.lr * config.total_steps, key
    assert not np.array_equal(expected["mask_decoder.iou_token.weight"], model_state(micro_model())[
        "mask_decoder.iou_token.weight"])  # fmt: skip


def test_schedule_is_sam_cores_warmup_cosine_per_optimizer_step():
    """WarmupCosine follows sam_core's warmup_cosine; with 2 micro-batches a step, the count is halved."""
    schedule = WarmupCosine(2e-3, warmup_steps=3, total_steps=10, min_ratio=0.1, accumulation_steps=2)
    got = np.array([float(schedule(i)) for i in range(24)])
    expected = [2e-3 * warmup_cosine(i // 2, warmup_steps=3, total_steps=10, min_ratio=0.1) for i in range(24)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)  # float32 output


def test_bf16_autocast_is_refused_with_the_option_named(tmp_path):
    with pytest.raises(ValueError, match="autocast"):
        Trainer(micro_model(), TrainConfig(autocast="bf16"), tmp_path)


def test_frozen_encoder_embeddings_are_cached_with_the_same_losses(tmp_path):
    """torch's test_training_datasets twin: with the image encoder frozen on a dataset, each image is encoded once
    (its embeddings travel with the step's arrays) and the loss equals that of running the encoder. fit() on such
    arrays: test_short_keras_finetune_improves_held_out_miou."""
    from sam_core.datasets import Subset
    from sam_core.datasets.demo import DemoShapes

    train = Subset(DemoShapes(3, 8, long_side=(64, 112)), range(6))
    config = TrainConfig(
        total_steps=4, batch_size=4, prompts_per_image=2, lr=3e-3, warmup_steps=1, log_every=1,
        checkpoint_every=1000, freeze_vision_encoder=True, prompts=PromptMix(corrective_rounds=0),
    )  # fmt: skip
    trainer = Trainer(micro_model(), config, tmp_path / "cached", dataset=train)
    arrays = trainer.arrays_for_step(0)
    unique = len({row.tobytes() for row in arrays["pixel_values"]})
    assert arrays["image_embeddings"].shape[0] == len(arrays["pixel_values"])
    assert trainer.embedding_cache.encoded == unique == len(trainer.embedding_cache)
    cached, _ = step_loss(trainer.model, arrays)
    plain, _ = step_loss(trainer.model, {k: v for k, v in arrays.items() if k != "image_embeddings"})
    assert float(cached) == pytest.approx(float(plain), rel=LOSS_RTOL)
    again = trainer.arrays_for_step(0)  # the same images: from the cache
    assert trainer.embedding_cache.encoded == unique
    assert np.array_equal(again["image_embeddings"], arrays["image_embeddings"])
    assert np.isfinite(trainer.train_step(again)["loss"])
