"""Held-out mIoU of a SAM model, for either backend: one positive point at each object's most interior pixel
(best of the 3 masks by predicted IoU) and the object's tight box (single-mask output), masks at the original
image size.

The IoU bookkeeping (``evaluate_predictions``) takes any prediction function, so it can be checked with an
oracle; ``predictor_fn`` wraps a ``sam_torch.SamModel`` or ``sam_tf.TFSamModel`` as one through SamPredictor.
Scenes are duck-typed (``SceneLike``): ``sam_core.synthetic.Scene`` and any other generator's scenes with an
``image`` and visible ``masks`` work.

Shape legend: O objects in a scene, H x W image, K masks per prompt (3 with multimask output).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .amg.scoring import masks_to_boxes
from .predictor import SamPredictor
from .synthetic import most_interior_point

#: Seed of the held-out scene stream (distinct from any training seed).
EVAL_SEED = 1_000_003


class SceneLike(Protocol):
    """What the evaluation reads from a scene.

    Attributes:
        image: (H, W, 3) uint8.
        masks: O non-empty (H, W) boolean visible masks, one per object.
    """

    image: np.ndarray
    masks: Sequence[np.ndarray]


#: predict(scene, points (O, 2) xy, boxes (O, 4) xyxy) -> (point masks (O, H, W), box masks (O, H, W)) bool.
PredictFn = Callable[[SceneLike, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class EvalResult:
    """Mean IoU over all objects of all scenes, per prompt kind, and the per-object IoUs.

    Attributes:
        point_miou: mean IoU of the point prompts.
        box_miou: mean IoU of the box prompts.
        point_ious: (sum of O,) float64 per-object IoUs of the point prompts, in scene order.
        box_ious: (sum of O,) float64 per-object IoUs of the box prompts.
    """

    point_miou: float
    box_miou: float
    point_ious: np.ndarray
    box_ious: np.ndarray

    @property
    def num_objects(self) -> int:
        return len(self.point_ious)


def iou(pred: np.ndarray, target: np.ndarray) -> float:
    """IoU of two (H, W) boolean masks (1.0 when both are empty)."""
    union = np.logical_or(pred, target).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, target).sum() / union)


def scene_prompts(scene: SceneLike) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation prompts of a scene's objects, in original pixels.

    Returns:
        (O, 2) float64 most-interior points (x, y) and (O, 4) float64 tight xyxy boxes (inclusive last pixel).
    """
    points = np.array([most_interior_point(mask) for mask in scene.masks], dtype=np.float64)
    boxes = masks_to_boxes(np.stack(scene.masks)).astype(np.float64)
    return points, boxes


def evaluate_predictions(scenes: Iterable[SceneLike], predict: PredictFn) -> EvalResult:
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


def predictor_fn(model: Any) -> PredictFn:
    """A PredictFn running ``model`` through SamPredictor: one image encoding per scene, all one-point prompts
    in one multimask decoder call (best of K by predicted IoU), all boxes in one single-mask call.

    Args:
        model: a ``sam_torch.SamModel`` or ``sam_tf.TFSamModel``.
    """
    predictor = SamPredictor(model)

    def predict(scene: SceneLike, points: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        predictor.set_image(scene.image)
        labels = np.ones((len(points), 1), dtype=np.int64)
        point_masks, scores, _ = predictor.predict_batch(points[:, None, :], labels, multimask_output=True)
        by_point = point_masks[np.arange(len(points)), scores.argmax(-1)]  # (O, H, W)
        box_masks, _, _ = predictor.predict_batch(boxes=boxes, multimask_output=False)  # (O, 1, H, W)
        return by_point, box_masks[:, 0]

    return predict


def evaluate_model(model: Any, scenes: Iterable[SceneLike]) -> EvalResult:
    """Point and box mIoU of a SAM model of either backend on ``scenes`` (see ``predictor_fn``)."""
    return evaluate_predictions(scenes, predictor_fn(model))
