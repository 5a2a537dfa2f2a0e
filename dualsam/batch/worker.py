"""The per-image work of a dataset run, the same in the local engine and in each Ray actor: read and prepare an image
(in a data-loading thread), encode several images per encoder call, decode each image's prompts in one decoder call,
and return JSON-ready results with COCO RLE masks. The model is loaded once per worker.

Memory per image: the decoded image, one full-resolution boolean mask at a time (each mask is RLE-encoded before
the next is upscaled), and the low-res logits; nothing scales with the number of prompts times the image size.

Shape legend: P prompts of one image, N points per prompt, L low-res mask side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from sam_core.amg.rle import mask_to_coco_rle
from sam_core.amg.rle_columns import ColumnRle
from sam_core.amg.scoring import box_xyxy_to_xywh, masks_to_boxes
from sam_core.amg.transforms import scale_boxes, scale_coords
from sam_core.predictor import SamPredictor, embed_images, encoder_input

from ..cli_common import write_png
from ..generate import generate_masks
from ..images import ImageReadError, read_image
from ..models import load_model
from ..overlay import blend_image, mask_colors
from .tasks import ImageTask, Prompt


@dataclass
class Prepared:
    """An image read and made ready for the encoder (or the reason it could not be)."""

    task: ImageTask
    image: np.ndarray | None = None
    pixels: np.ndarray | None = None
    error: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """What each worker loads: the --model, --backend, --config and --dtype values."""

    model: str | None = None
    backend: str | None = None
    config: str | None = None
    dtype: str | None = None


class DatasetWorker:
    """Loads the model once; turns batches of tasks into per-image results.

    Args:
        spec: the model to load.
        mode: "segment" (the tasks' prompts) or "generate" (the automatic mask generator).
        options: for "segment": ``multimask`` (bool); for "generate": SamAutomaticMaskGenerator arguments; both:
            ``overlays`` (bool) to write ``out/overlays/<image key>.png``.
        out: the output directory (for overlays).
    """

    def __init__(self, spec: ModelSpec, mode: str, options: dict[str, Any], out: str | None = None) -> None:
        if mode not in ("segment", "generate"):
            raise ValueError(f"mode must be 'segment' or 'generate', got {mode!r}")
        self.loaded = load_model(spec.model, spec.backend, spec.config, spec.dtype)
        self.mode, self.options = mode, dict(options)
        self.overlays = os.path.join(out, "overlays") if out and self.options.pop("overlays", False) else None
        self.predictor = SamPredictor(self.loaded.model)
        self.image_size = self.predictor.backend.image_size

    def prepare(self, task: ImageTask) -> Prepared:
        """Reads the image and computes the encoder input (safe to run in a data-loading thread)."""
        try:
            image = read_image(task.path)
            return Prepared(task, image, encoder_input(image, self.image_size))
        except ImageReadError as error:
            return Prepared(task, error=str(error))

    def run(self, batch: list[Prepared]) -> list[dict[str, Any]]:
        """Results of a batch of prepared images, in order: one encoder call for all readable images."""
        readable = [item for item in batch if item.error is None]
        embeddings = embed_images(self.predictor.backend, [item.pixels for item in readable]) if readable else []
        by_id = {id(item): embedding for item, embedding in zip(readable, embeddings)}
        results = []
        for item in batch:
            if item.error is not None:
                results.append(_result(item.task, error=item.error))
                continue
            try:
                annotations = self._annotate(item, by_id[id(item)])
            except (ValueError, ImageReadError) as error:
                results.append(_result(item.task, error=f"{item.task.path}: {' '.join(str(error).split())}"))
                continue
            height, width = item.image.shape[:2]
            if self.overlays is not None:
                write_overlay(item.image, annotations, os.path.join(self.overlays, item.task.key + ".png"))
            results.append(_result(item.task, width=width, height=height, annotations=annotations))
            item.image = item.pixels = None
        return results

    def _annotate(self, item: Prepared, embedding: Any) -> list[dict[str, Any]]:
        size = item.image.shape[:2]
        if self.mode == "generate":
            records = generate_masks(self.predictor.backend, item.image, progress=False, image_embedding=embedding,
                                     **self.options)  # fmt: skip
            return [_generated(record) for record in records]
        self.predictor.set_image_embedding(embedding, size)
        annotations: list[dict[str, Any]] = []
        for group in _groups(item.task.prompts):
            annotations.extend(self._segment_group(group, size))
        return annotations

    def _segment_group(self, prompts: list[Prompt], size: tuple[int, int]) -> list[dict[str, Any]]:
        """One decoder call for prompts of the same shape (same point count, all with or all without a box)."""
        _check_inside(prompts, size)
        points = labels = boxes = None
        if prompts[0].points:
            points = scale_coords(np.array([p.points for p in prompts], np.float64), size, self.image_size)
            labels = np.array([p.labels for p in prompts], np.int64)
        if prompts[0].box is not None:
            boxes = scale_boxes(np.array([p.box for p in prompts], np.float64), size, self.image_size)
        multimask = bool(self.options.get("multimask", False))
        low_res, scores = self.predictor.decode(points, labels, boxes, multimask_output=multimask)
        annotations = []
        for prompt, logits, iou in zip(prompts, low_res, scores):
            for k in range(len(iou)):
                mask = self.predictor.upscaler.binarize(logits[k], 0.0)
                annotations.append(_annotation(mask, float(iou[k]), prompt))
        return annotations


def write_overlay(image: np.ndarray, annotations: list[dict[str, Any]], path: str) -> None:
    """The annotations' masks coloured over the image (largest first), decoded a band of columns at a time, written
    atomically."""
    ordered = sorted(annotations, key=lambda a: -a["area"])
    masks = [ColumnRle(a["segmentation"]) for a in ordered]
    write_png(blend_image(image, masks, mask_colors(len(ordered))), path)


def _groups(prompts: tuple[Prompt, ...]) -> list[list[Prompt]]:
    """Prompts grouped by shape, in first-seen order (each group is one decoder call)."""
    groups: dict[tuple[int, bool], list[Prompt]] = {}
    for prompt in prompts:
        groups.setdefault((len(prompt.points), prompt.box is not None), []).append(prompt)
    return list(groups.values())


def _check_inside(prompts: list[Prompt], size: tuple[int, int]) -> None:
    height, width = size
    for prompt in prompts:
        for x, y in prompt.points:
            if not (0 <= x <= width and 0 <= y <= height):
                raise ValueError(f"point {x:g},{y:g} lies outside the {width}x{height} image")
        if prompt.box is not None:
            x1, y1, x2, y2 = prompt.box
            if not (0 <= x1 and 0 <= y1 and x2 <= width and y2 <= height):
                raise ValueError(f"box {x1:g},{y1:g},{x2:g},{y2:g} lies outside the {width}x{height} image")


def _annotation(mask: np.ndarray, score: float, prompt: Prompt) -> dict[str, Any]:
    """A COCO annotation (without ids) of one predicted mask."""
    area = int(mask.sum())
    box = masks_to_boxes(mask[None])[0] if area else np.zeros(4, np.int64)
    annotation = {
        "segmentation": mask_to_coco_rle(mask),
        "area": area,
        "bbox": [int(v) for v in box_xyxy_to_xywh(box)] if area else [0, 0, 0, 0],
        "predicted_iou": score,
        "prompt": prompt.to_json(),
    }
    if prompt.category_id is not None:
        annotation["category_id"] = prompt.category_id
    return annotation


def _generated(record: dict[str, Any]) -> dict[str, Any]:
    """A mask generator record as a COCO annotation (without ids)."""
    return {
        "segmentation": record["segmentation"],
        "area": int(record["area"]),
        "bbox": [int(v) for v in record["bbox"]],
        "predicted_iou": float(record["predicted_iou"]),
        "stability_score": float(record["stability_score"]),
        "point_coords": record["point_coords"],
        "crop_box": [int(v) for v in record["crop_box"]],
    }


def _result(task: ImageTask, *, width: int = 0, height: int = 0, annotations: list | None = None,
            error: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"key": task.key, "path": task.path, "width": width, "height": height, "coco_image_id": task.coco_image_id,
            "annotations": annotations or [], "error": error, "pid": os.getpid()}  # fmt: skip
