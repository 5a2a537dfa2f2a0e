"""Fine-tuning a SAM model on the user's own data (a COCO file or a mask folder), in PyTorch or Keras.

``finetune`` loads the model (``dualsam.models.load_model``: the same --model specs as every command, default the
shipped model), opens the dataset (``sam_core.datasets.open_dataset``), splits off a seeded validation part,
evaluates it, trains with ``sam_torch.training.Trainer`` or ``sam_tf.training.Trainer``, evaluates again and writes
OUT/report.json. OUT/model is then a save_pretrained directory every command loads (``--model OUT/model``); OUT
also holds checkpoint/ (for --resume) and train_log.jsonl.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sam_core.atomic import write_json
from sam_core.datasets import Subset, open_dataset, split
from sam_core.training import LossWeights, PromptMix, TrainConfig, processor_for_config

from .evaluate import describe_result
from .models import check_dtype, load_model

#: --freeze names -> TrainConfig fields.
FREEZABLE = {"image_encoder": "freeze_vision_encoder", "prompt_encoder": "freeze_prompt_encoder"}
REPORT_NAME = "report.json"
BEFORE_NAME = "evaluation_before.json"
DEFAULT_EPOCHS = 10
#: The fine-tuning recipe's defaults (see the README's demonstration for how they were chosen).
DEFAULT_BATCH_SIZE = 4
DEFAULT_LR = 3e-4
PROMPTS_PER_IMAGE = 4


@dataclass
class FinetuneReport:
    """What a fine-tuning run did (also written to OUT/report.json).

    Attributes:
        data, model, backend: the inputs (model as given; "default" for the shipped model).
        out, model_dir, log_path, report_path: where the results are.
        train_items, val_items: sizes of the split.
        steps, total_steps: steps done (in total, across resumes) and the schedule's length.
        wall_s: wall time of this call (loading, evaluations and training).
        before, after: held-out evaluations (``EvalResult.summary`` plus category names); None without a
            validation part.
        config: the TrainConfig as a dict.
    """

    data: str
    model: str
    backend: str
    out: str
    model_dir: str
    log_path: str
    report_path: str
    train_items: int
    val_items: int
    steps: int
    total_steps: int
    wall_s: float
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def trainer_class(backend: str) -> Any:
    """``sam_torch.training.Trainer`` or ``sam_tf.training.Trainer`` (the same constructor and methods)."""
    if backend == "torch":
        from sam_torch.training import Trainer
    elif backend == "tf":
        from sam_tf.training import Trainer
    else:
        raise ValueError(f"backend: fine-tuning runs on torch or tf, not {backend!r}")
    return Trainer


def _check_out(out: str | os.PathLike, data: str, images: str | None) -> Path:
    target = Path(out).resolve()
    if target.exists() and not target.is_dir():
        raise ValueError(f"out: {out} exists and is not a directory")
    for given in (data, images):
        if given is not None and not str(given).startswith("synthetic:") and Path(given).resolve() == target:
            raise ValueError(f"out: {out} is the input {given}; choose another directory")
    return target


def _freeze_fields(freeze: Sequence[str]) -> dict[str, bool]:
    unknown = sorted(set(freeze) - set(FREEZABLE))
    if unknown:
        raise ValueError(f"freeze: unknown part {', '.join(unknown)}; choose from {', '.join(FREEZABLE)}")
    return {FREEZABLE[name]: True for name in freeze}


def _finetune_dtype(dtype: str | None, backend: str) -> str:
    """--dtype for fine-tuning: bf16 means bfloat16 autocast, which the torch trainer has and the Keras one lacks."""
    dtype = check_dtype(dtype, backend)
    if dtype == "bf16" and backend != "torch":
        raise ValueError(f"dtype: bf16 fine-tuning runs on the torch backend (the {backend} trainer trains in float32)")
    return dtype


def finetune_config(
    train_items: int, *, steps: int | None, epochs: float | None, seed: int, batch_size: int, lr: float,
    freeze: Sequence[str] = (), autocast: str | None = None,
) -> TrainConfig:  # fmt: skip
    """The fine-tuning recipe: AdamW at ``lr`` with 5% warmup and cosine decay, point and box prompts, SAM's loss
    terms at 1 : 1 : 1 (as the default model was trained), ``steps`` or ``epochs`` long; ``autocast`` "bf16" runs
    the forward passes under bfloat16 autocast (torch)."""
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps and epochs")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if epochs is not None and not epochs > 0:
        raise ValueError(f"epochs must be > 0, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    total = steps if steps is not None else max(1, math.ceil(epochs * train_items / batch_size))
    return TrainConfig(
        seed=seed, total_steps=total, batch_size=batch_size, prompts_per_image=PROMPTS_PER_IMAGE, lr=lr,
        warmup_steps=max(1, total // 20), weight_decay=0.01, grad_clip=1.0,
        prompts=PromptMix(multi_point_probability=0.2, negative_fraction=0.3, boxes=True, corrective_rounds=0),
        loss_weights=LossWeights(focal=1.0, dice=1.0, iou=1.0), log_every=max(1, min(20, total // 20)),
        checkpoint_every=max(1, min(500, total // 4)), autocast=autocast, **_freeze_fields(freeze),
    )  # fmt: skip


def finetune(
    data: str,
    *,
    images: str | None = None,
    model: str | None = None,
    backend: str = "torch",
    steps: int | None = None,
    epochs: float | None = None,
    val_split: float = 0.1,
    out: str | os.PathLike,
    freeze: Sequence[str] = (),
    resume: bool = False,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    progress: bool = True,
    dtype: str | None = None,
) -> FinetuneReport:
    """Fine-tunes ``model`` on ``data`` and reports the held-out mIoU before and after.

    Args:
        data: a COCO .json, a mask folder, or ``synthetic:SEED:COUNT`` (``sam_core.datasets.open_dataset``).
        images: for COCO, the folder image file names are relative to (default: the json's folder).
        model: any --model spec (None: the shipped default model); ignored with ``resume`` (the checkpoint's).
        backend: "torch" or "tf".
        steps, epochs: the schedule's length (exactly one; epochs over the training part, rounded up to steps).
        val_split: share of the items held out for the before / after evaluation (0: none).
        out: the run directory (must not be the input).
        freeze: parts kept fixed: "image_encoder", "prompt_encoder".
        resume: continue the run in ``out`` from its checkpoint (the schedule and recipe are the checkpoint's).
        seed: split, data order and prompts.
        batch_size, lr: images per step and peak learning rate.
        progress: show a tqdm progress bar on stderr.
        dtype: "fp32" (None too) or "bf16": torch only, the training steps under bfloat16 autocast (float32
            weights, so OUT/model is float32) and the evaluations in the bf16 mode; ignored with ``resume`` (the
            checkpoint's recipe).

    Raises:
        ValueError: a bad argument (named), or --resume without a checkpoint in ``out``.
        FileNotFoundError: ``data`` does not exist.
        dualsam.models.ModelError: a bad model spec or backend.
    """
    start = time.perf_counter()
    out_dir = _check_out(out, data, images)
    dtype = _finetune_dtype(dtype, backend)
    Trainer = trainer_class(backend)
    dataset = open_dataset(data, images)
    train_indices, val_indices = split(dataset, val_split, seed)
    train_set, val_set = Subset(dataset, train_indices), Subset(dataset, val_indices)
    if not train_indices:
        raise ValueError(f"data: {data} has no items to train on")
    validation = val_set if val_indices else None
    if resume:
        try:
            trainer = Trainer.resume(out_dir, dataset=train_set, val_dataset=validation)
        except FileNotFoundError as error:
            raise ValueError(f"resume: no checkpoint in {out_dir} to resume from") from error
        before = _read_before(out_dir)
        model_spec = "checkpoint"
    else:
        config = finetune_config(len(train_set), steps=steps, epochs=epochs, seed=seed, batch_size=batch_size, lr=lr,
                                 freeze=freeze, autocast="bf16" if dtype == "bf16" else None)  # fmt: skip
        loaded = load_model(model, backend, dtype=dtype)
        model_spec = loaded.spec
        processor = processor_for_config(loaded.model.config)
        trainer = Trainer(loaded.model, config, out_dir, processor=processor, dataset=train_set,
                          val_dataset=validation)  # fmt: skip
        os.makedirs(out_dir, exist_ok=True)
        before = _evaluate(trainer, dataset, len(val_indices)) if validation is not None else None
        write_json(out_dir / BEFORE_NAME, {"before": before})
    _fit(trainer, progress)
    after = _evaluate(trainer, dataset, len(val_indices)) if validation is not None else None
    report = FinetuneReport(
        data=str(data), model=model_spec, backend=backend, out=str(out_dir), model_dir=str(out_dir / "model"),
        log_path=str(out_dir / "train_log.jsonl"), report_path=str(out_dir / REPORT_NAME),
        train_items=len(train_set), val_items=len(val_indices), steps=int(trainer.step),
        total_steps=int(trainer.config.total_steps), wall_s=round(time.perf_counter() - start, 3), before=before,
        after=after, config=trainer.config.to_dict(),
    )  # fmt: skip
    write_json(out_dir / REPORT_NAME, report.to_dict())
    return report


def _read_before(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / BEFORE_NAME
    return json.loads(path.read_text(encoding="utf-8"))["before"] if path.is_file() else None


def _evaluate(trainer: Any, dataset: Any, count: int) -> dict[str, Any]:
    return describe_result(trainer.evaluate(count), dataset)


def _fit(trainer: Any, progress: bool) -> None:
    remaining = trainer.config.total_steps - trainer.step
    if not progress or remaining <= 0:
        trainer.fit()
        return
    from tqdm.auto import tqdm

    with tqdm(total=trainer.config.total_steps, initial=trainer.step, desc="fine-tuning", unit="step") as bar:

        def on_step(step: int, logged: dict[str, float]) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{logged.get('loss', float('nan')):.3f}", refresh=False)

        trainer.fit(on_step=on_step)
