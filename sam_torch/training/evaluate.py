"""Held-out mIoU on synthetic scenes: one positive point at each object's most interior pixel (best of the 3
masks by predicted IoU) and the object's tight box (single-mask output), masks post-processed to the original size.

The IoU bookkeeping (``evaluate_predictions``) takes any prediction function, so it can be checked with an
oracle; ``model_predictor`` wraps a SamModel and its processor as one.

Shape legend: O objects in a scene, H x W image, K masks, L low-res mask frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

from sam_core.processing import SamProcessor
from sam_core.synthetic import Scene, SyntheticSceneDataset, most_interior_point

from .prompts import mask_to_box

EVAL_SEED = 1_000_003

#: predict(scene, points (O, 2) xy, boxes (O, 4) xyxy) -> (point masks (O, H, W), box masks (O, H, W)) bool.
PredictFn = Callable[[Scene, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class EvalResult:
    """Mean IoU over all objects of all scenes, per prompt kind, and per-object IoUs."""

    point_miou: float
    box_miou: float
    point_ious: np.ndarray
    box_ious: np.ndarray

    @property
    def num_objects(self) -> int:
        return len(self.point_ious)


def iou(pred: np.ndarray, target: np.ndarray) -> float:
    """IoU of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(pred, target).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, target).sum() / union)


def scene_prompts(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """(O, 2) most-interior points and (O, 4) tight boxes of a scene's objects, in original pixels."""
    points = np.array([most_interior_point(mask) for mask in scene.masks], dtype=np.float64)
    boxes = np.stack([mask_to_box(mask) for mask in scene.masks])
    return points, boxes


def evaluate_predictions(scenes: Iterable[Scene], predict: PredictFn) -> EvalResult:
    """Runs ``predict`` on every scene's prompts and averages the IoUs over all objects."""
    point_ious, box_ious = [], []
    for scene in scenes:
        points, boxes = scene_prompts(scene)
        point_masks, box_masks = predict(scene, points, boxes)
        for target, by_point, by_box in zip(scene.masks, point_masks, box_masks):
            point_ious.append(iou(by_point, target))
            box_ious.append(iou(by_box, target))
    point_ious, box_ious = np.array(point_ious), np.array(box_ious)
    return EvalResult(float(point_ious.mean()), float(box_ious.mean()), point_ious, box_ious)


def model_predictor(model: torch.nn.Module, processor: SamProcessor) -> PredictFn:
    """A PredictFn running ``model``: one image encoding, multimask for points (best by predicted IoU), single
    mask for boxes, upscaled with ``processor.post_process_masks``."""

    @torch.no_grad()
    def predict(scene: Scene, points: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = processor(images=[scene.image], input_points=points[None, :, None, :], input_boxes=boxes[None])
        embeddings = model.get_image_embeddings(torch.from_numpy(inputs["pixel_values"]))
        by_point = model(image_embeddings=embeddings, input_points=torch.from_numpy(inputs["input_points"]),
                         multimask_output=True)  # fmt: skip
        by_box = model(image_embeddings=embeddings, input_boxes=torch.from_numpy(inputs["input_boxes"]),
                       multimask_output=False)  # fmt: skip
        best = by_point.iou_scores.argmax(-1)  # (1, O)
        index = best[..., None, None, None].expand(-1, -1, 1, *by_point.pred_masks.shape[-2:])
        chosen = by_point.pred_masks.gather(2, index)  # (1, O, 1, L, L)
        low_res = torch.cat([chosen, by_box.pred_masks], dim=2).numpy()
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
