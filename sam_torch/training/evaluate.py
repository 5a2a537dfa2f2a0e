"""Held-out mIoU of a torch SamModel for the trainer, through SamProcessor (the path training uses).

The framework-neutral parts (prompts, IoU bookkeeping, EvalResult, and ``predictor_fn`` for either backend)
live in ``sam_core.evaluation``; this module adds ``model_predictor``, which runs a SamModel on the
processor's batched inputs, and ``evaluate`` on the synthetic held-out stream.

Shape legend: O objects in a scene, H x W image, L low-res mask frame.
"""

from __future__ import annotations

import numpy as np
import torch

from sam_core.evaluation import (
    EVAL_SEED,
    EvalResult,
    PredictFn,
    SceneLike,
    evaluate_predictions,
    iou,
    scene_prompts,
)
from sam_core.processing import SamProcessor
from sam_core.synthetic import SyntheticSceneDataset

__all__ = [
    "EVAL_SEED",
    "EvalResult",
    "PredictFn",
    "evaluate",
    "evaluate_predictions",
    "iou",
    "model_predictor",
    "scene_prompts",
]


def model_predictor(model: torch.nn.Module, processor: SamProcessor) -> PredictFn:
    """A PredictFn running ``model`` (on its device): one image encoding, multimask for points (best by predicted
    IoU), single mask for boxes, upscaled with ``processor.post_process_masks``."""

    @torch.no_grad()
    def predict(scene: SceneLike, points: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = processor(images=[scene.image], input_points=points[None, :, None, :], input_boxes=boxes[None])
        tensor = lambda name: torch.from_numpy(inputs[name]).to(model.device)  # noqa: E731
        embeddings = model.get_image_embeddings(tensor("pixel_values"))
        by_point = model(image_embeddings=embeddings, input_points=tensor("input_points"), multimask_output=True)
        by_box = model(image_embeddings=embeddings, input_boxes=tensor("input_boxes"), multimask_output=False)
        best = by_point.iou_scores.argmax(-1)  # (1, O)
        index = best[..., None, None, None].expand(-1, -1, 1, *by_point.pred_masks.shape[-2:])
        chosen = by_point.pred_masks.gather(2, index)  # (1, O, 1, L, L)
        low_res = torch.cat([chosen, by_box.pred_masks], dim=2).cpu().numpy()
        masks = processor.post_process_masks(low_res, inputs["original_sizes"], inputs["reshaped_input_sizes"])[0]
        return masks[:, 0], masks[:, 1]

    return predict


def evaluate(
    model: torch.nn.Module,
    processor: SamProcessor,
    *,
    num_scenes: int = 200,
    seed: int = EVAL_SEED,
    **scene_kwargs,
) -> EvalResult:
    """Point and box mIoU of ``model`` on ``num_scenes`` scenes of ``SyntheticSceneDataset(seed, **scene_kwargs)``.

    The model is put in eval mode (and restored to its previous mode afterwards).
    """
    was_training = model.training
    model.eval()
    try:
        scenes = SyntheticSceneDataset(seed, length=num_scenes, **scene_kwargs)
        return evaluate_predictions(scenes, model_predictor(model, processor))
    finally:
        model.train(was_training)
