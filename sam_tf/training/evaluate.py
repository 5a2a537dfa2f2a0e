"""Held-out mIoU of a TFSamModel for the trainer (sam_torch.training.evaluate's API).

The framework-neutral parts (prompts, IoU bookkeeping, EvalResult, and ``predictor_fn`` for either backend) live in
``sam_core.evaluation``; here ``model_predictor`` runs a TFSamModel through SamPredictor (one image encoding per
scene, best of 3 masks by predicted IoU for points, the single mask for boxes) and ``evaluate`` scores the synthetic
held-out stream.

Shape legend: O objects in a scene, H x W image.
"""

from __future__ import annotations

from typing import Any

from sam_core.evaluation import (
    EVAL_SEED,
    EvalResult,
    PredictFn,
    SceneLike,
    evaluate_predictions,
    iou,
    predictor_fn,
    scene_prompts,
)
from sam_core.processing import SamProcessor
from sam_core.synthetic import SyntheticSceneDataset

__all__ = [
    "EVAL_SEED",
    "EvalResult",
    "PredictFn",
    "SceneLike",
    "evaluate",
    "evaluate_predictions",
    "iou",
    "model_predictor",
    "scene_prompts",
]


def model_predictor(model: Any, processor: SamProcessor | None = None) -> PredictFn:
    """A PredictFn running the TFSamModel ``model`` (``sam_core.evaluation.predictor_fn``; the predictor uses the
    processor matching the model's frame, so ``processor`` is accepted for the torch API and not needed)."""
    return predictor_fn(model)


def evaluate(
    model: Any, processor: SamProcessor | None = None, *, num_scenes: int = 200, seed: int = EVAL_SEED, **scene_kwargs
) -> EvalResult:
    """Point and box mIoU of ``model`` on ``num_scenes`` scenes of ``SyntheticSceneDataset(seed, **scene_kwargs)``."""
    scenes = SyntheticSceneDataset(seed, length=num_scenes, **scene_kwargs)
    return evaluate_predictions(scenes, model_predictor(model, processor))
