"""Held-out quality of a model on the user's data: point mIoU (one point at each object's most interior pixel, the
best of 3 masks by predicted IoU) and box mIoU (the object's tight box), overall and per category
(``sam_core.evaluation.evaluate_dataset``, through SamPredictor, so any backend works).
"""

from __future__ import annotations

from typing import Any

from sam_core.datasets import Subset, open_dataset
from sam_core.evaluation import evaluate_dataset

from .models import load_model


def category_names(dataset: Any) -> dict[int, str]:
    """category id -> name from the dataset (COCO's categories, the demo's names); empty when it has none."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return {int(k): str(v) for k, v in (getattr(dataset, "categories", None) or {}).items()}


def describe_result(summary: dict[str, Any], dataset: Any) -> dict[str, Any]:
    """``EvalResult.summary()`` with each category's name (when the dataset has names)."""
    names = category_names(dataset)
    per_category = {
        key: ({"name": names[int(key)], **values} if int(key) in names else dict(values))
        for key, values in summary["per_category"].items()
    }
    return {**summary, "per_category": per_category}


def evaluate(
    data: str,
    *,
    images: str | None = None,
    model: str | None = None,
    backend: str | None = None,
    limit: int | None = None,
    dtype: str | None = None,
) -> dict[str, Any]:
    """Point and box mIoU of ``model`` on the items of ``data``.

    Args:
        data: a COCO .json, a mask folder, or ``synthetic:SEED:COUNT``.
        images: for COCO, the folder image file names are relative to.
        model: any --model spec (None: the shipped default model).
        backend: "torch", "tf", "onnx" (None: torch if installed, else tf).
        limit: at most this many items (default: all).
        dtype: "fp32" (None too) or "bf16" (torch and tf: the image encoder's GEMMs in bfloat16).

    Returns:
        {"data", "model", "backend", "items", "point_miou", "box_miou", "objects", "per_category": {id: {"name"?,
        "point_miou", "box_miou", "objects"}}}.

    Raises:
        ValueError: a bad argument or a dataset without objects; FileNotFoundError: ``data`` does not exist;
        dualsam.models.ModelError: a bad model spec or backend.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    dataset = open_dataset(data, images)
    loaded = load_model(model, backend, dtype=dtype)
    result = evaluate_dataset(loaded.model, dataset, limit=limit)
    items = len(dataset) if limit is None else min(limit, len(dataset))
    return {"data": str(data), "model": loaded.describe(), "backend": loaded.backend, "items": items,
            **describe_result(result.summary(), dataset)}  # fmt: skip
