"""Held-out mIoU of a SAM model, for either backend: one positive point at each object's most interior pixel
(best of the 3 masks by predicted IoU) and the object's tight box (single-mask output), masks at the original
image size.

The IoU bookkeeping (``evaluate_predictions``) takes any prediction function, so it can be checked with an
oracle; ``predictor_fn`` wraps a ``sam_torch.SamModel`` or ``sam_tf.TFSamModel`` as one through SamPredictor.
Scenes are duck-typed (``SceneLike``): ``sam_core.synthetic.Scene``, ``sam_core.datasets.DatasetItem`` and any
other generator's scenes with an ``image`` and visible ``masks`` work; an optional ``category_ids`` gives the
per-category means. ``evaluate_dataset`` runs a model on a ``TrainingDataset`` (instances without a pixel and items
without instances are left out).

Shape legend: O objects in a scene, H x W image, K masks per prompt (3 with multimask output).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
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
        category_ids: (sum of O,) int64 category of each object (0 where the scenes have none).
    """

    point_miou: float
    box_miou: float
    point_ious: np.ndarray
    box_ious: np.ndarray
    category_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def num_objects(self) -> int:
        return len(self.point_ious)

    def per_category(self) -> dict[int, dict[str, float]]:
        """category id -> {"point_miou", "box_miou", "objects"} over that category's objects, by id."""
        out = {}
        for category in np.unique(self.category_ids):
            chosen = self.category_ids == category
            out[int(category)] = {
                "point_miou": float(self.point_ious[chosen].mean()),
                "box_miou": float(self.box_ious[chosen].mean()),
                "objects": int(chosen.sum()),
            }
        return out

    def summary(self) -> dict[str, object]:
        """JSON-ready: overall point / box mIoU, the object count and ``per_category`` (keys as strings)."""
        per_category = {str(k): v for k, v in self.per_category().items()}
        return {"point_miou": self.point_miou, "box_miou": self.box_miou, "objects": self.num_objects,
                "per_category": per_category}  # fmt: skip


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
    """Runs ``predict`` on every scene's prompts and averages the IoUs over all objects (ValueError for none)."""
    point_ious, box_ious, categories = [], [], []
    for scene in scenes:
        points, boxes = scene_prompts(scene)
        point_masks, box_masks = predict(scene, points, boxes)
        for target, by_point, by_box in zip(scene.masks, point_masks, box_masks):
            point_ious.append(iou(by_point, target))
            box_ious.append(iou(by_box, target))
        categories.extend(getattr(scene, "category_ids", [0] * len(scene.masks)))
    if not point_ious:
        raise ValueError("nothing to evaluate: no scene has an object")
    point_ious, box_ious = np.array(point_ious), np.array(box_ious)
    category_ids = np.asarray(categories, dtype=np.int64)
    return EvalResult(float(point_ious.mean()), float(box_ious.mean()), point_ious, box_ious, category_ids)


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


@dataclass
class _Instances:
    """A dataset item reduced to its instances with a pixel (a SceneLike with categories)."""

    image: np.ndarray
    masks: np.ndarray
    category_ids: np.ndarray


def dataset_scenes(
    dataset: Any, indices: Sequence[int] | None = None, limit: int | None = None
) -> Iterator[_Instances]:
    """The items of a ``sam_core.datasets.TrainingDataset`` as scenes to evaluate, read one at a time.

    Args:
        dataset: anything with ``len`` and ``[i]`` giving items with ``image``, ``masks`` (O, H, W) and
            ``category_ids`` (O,).
        indices: the items to use, in order (default: all).
        limit: at most this many items (default: all).
    """
    chosen = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    for index in chosen[:limit]:
        item = dataset[index]
        masks = np.asarray(item.masks, dtype=bool)
        kept = masks.reshape(len(masks), -1).any(axis=1)
        if kept.any():
            yield _Instances(item.image, masks[kept], np.asarray(item.category_ids, dtype=np.int64)[kept])


def evaluate_dataset(
    model: Any, dataset: Any, indices: Sequence[int] | None = None, limit: int | None = None
) -> EvalResult:
    """Point and box mIoU, overall and per category, of a SAM model of either backend on a dataset's items.

    Args:
        model: a ``sam_torch.SamModel`` or ``sam_tf.TFSamModel`` (see ``predictor_fn``).
        dataset, indices, limit: the items (see ``dataset_scenes``).
    """
    return evaluate_predictions(dataset_scenes(dataset, indices, limit), predictor_fn(model))
