"""Training batches: images and their instance masks through SamProcessor (images -> pixel_values, masks -> the
low-res target frame), the objects each prompt targets, and their prompts in original-image pixels.

An item is anything with ``image`` ((H, W, 3) uint8) and ``masks`` (O (H, W) bool masks): a
``sam_core.datasets.DatasetItem`` or a ``sam_core.synthetic.Scene``. Each mask is brought into the low-res frame
the way SamProcessor brings a segmentation map there (NEAREST resize of the long side to L, zero padding), through
one map of source-pixel indices per image, so overlapping instances (COCO) keep their own targets.

Shape legend: B images, P prompts per image, N points per prompt, O instances of an item, S model input side,
L low-res mask frame (4 x embedding grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..config import SamConfig
from ..image_processing import SamImageProcessor
from ..processing import SamProcessor
from .prompts import NEGATIVE, POSITIVE, jitter_box, mask_to_box, sample_negative_points, sample_points_in

if TYPE_CHECKING:
    from .config import PromptMix

MIN_TARGET_CELLS = 4  # an object must cover this many cells of the low-res frame to be a training target


class ItemLike(Protocol):
    """What a batch reads from an item: image (H, W, 3) uint8 and O (H, W) bool instance masks."""

    image: np.ndarray
    masks: Any


def processor_for_config(config: SamConfig) -> SamProcessor:
    """The SamProcessor whose frames match ``config``: images to image_size, labels to the 4g mask frame.

    For the standard 1024 / 16 model this is the default processor (1024 images, 256 labels).
    """
    vision = config.vision_config
    mask_side = 4 * vision.grid_size
    return SamProcessor(
        SamImageProcessor(
            size={"longest_edge": vision.image_size},
            pad_size=vision.image_size,
            mask_size={"longest_edge": mask_side},
            mask_pad_size=mask_side,
        )
    )


@dataclass
class StepPrompts:
    """One step's prompts in original-image pixels.

    Attributes:
        multi: the point prompts have several points (single-mask output) rather than one positive point (best
            of the 3 multimask outputs).
        points: (B, P, N, 2) float64 xy points; labels: (B, P, N) int64 (1 positive, 0 negative).
        boxes: (B, P, 4) float64 jittered xyxy boxes, or None when the step trains no boxes.
    """

    multi: bool
    points: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray | None


@dataclass
class TrainingBatch:
    """Processed images and per-prompt targets (numpy; each backend converts at its edge).

    Attributes:
        pixel_values: (B, 3, S, S) float32.
        targets: (B, P, L, L) float32 0/1 masks in the processor's label frame.
        original_sizes: (B, 2) int64 (H, W).
        reshaped_input_sizes: (B, 2) int64 (h, w) of the resized image inside the padded S x S input.
        objects: (B, P) int64 instance index in each item.
        masks: B lists of P (H, W) bool full-size ground-truth masks, for prompt sampling; None once the prompts
            are drawn (a data worker then need not send them back).
        prompts: the step's prompts when they were drawn with the batch (``draw_prompts``), else None.
    """

    pixel_values: np.ndarray
    targets: np.ndarray
    original_sizes: np.ndarray
    reshaped_input_sizes: np.ndarray
    objects: np.ndarray
    masks: list[list[np.ndarray]] | None
    prompts: StepPrompts | None = None


def usable_instances(item: ItemLike) -> np.ndarray:
    """(O,) bool: the item's instances with at least one pixel (the ones that can be prompted)."""
    masks = _stacked_masks(item)
    return masks.reshape(len(masks), -1).any(axis=1)


def _stacked_masks(item: ItemLike) -> np.ndarray:
    masks = item.masks
    if isinstance(masks, np.ndarray) and masks.ndim == 3:
        return masks.astype(bool, copy=False)
    height, width = item.image.shape[:2]
    return np.stack([np.asarray(m, dtype=bool) for m in masks]) if len(masks) else np.zeros((0, height, width), bool)


def _source_index_map(height: int, width: int) -> np.ndarray:
    """(H, W) int64 map of 1 + the flat index of each pixel (0 stays free for the processor's padding)."""
    return np.arange(1, height * width + 1, dtype=np.int64).reshape(height, width)


def build_batch(
    items: Sequence[ItemLike], processor: SamProcessor, prompts_per_image: int, rng: np.random.Generator
) -> TrainingBatch:
    """Processes items and picks ``prompts_per_image`` target instances per image.

    Instances are drawn without replacement among those covering at least MIN_TARGET_CELLS low-res cells while
    there are enough, then with replacement; an item with none that large trains on its largest instance.

    Raises:
        ValueError: an item has no instance with a pixel (``BatchSource`` skips such items before building).
    """
    stacks = [_stacked_masks(item) for item in items]
    for index, (item, masks) in enumerate(zip(items, stacks)):
        if not masks.reshape(len(masks), -1).any(axis=1).any():
            raise ValueError(f"items[{index}] ({getattr(item, 'key', 'no key')}) has no instance with a pixel")
    index_maps = [_source_index_map(*item.image.shape[:2]) for item in items]
    encoding = processor(images=[item.image for item in items], segmentation_maps=index_maps)
    sources = encoding["labels"]  # (B, L, L): 1 + source pixel index, 0 on padding
    objects = np.zeros((len(items), prompts_per_image), dtype=np.int64)
    targets = np.zeros((len(items), prompts_per_image, *sources.shape[1:]), dtype=bool)
    for b, masks in enumerate(stacks):
        inside = sources[b] > 0
        low_res = masks.reshape(len(masks), -1)[:, np.maximum(sources[b] - 1, 0)] & inside  # (O, L, L)
        cells = low_res.reshape(len(masks), -1).sum(axis=1)
        nonempty = masks.reshape(len(masks), -1).any(axis=1)
        valid = np.flatnonzero(nonempty & (cells >= MIN_TARGET_CELLS))
        valid = valid if len(valid) else np.array([int(np.argmax(np.where(nonempty, cells, -1)))])
        replace = len(valid) < prompts_per_image
        objects[b] = rng.choice(valid, size=prompts_per_image, replace=replace)
        targets[b] = low_res[objects[b]]
    return TrainingBatch(
        pixel_values=np.asarray(encoding["pixel_values"], dtype=np.float32),
        targets=targets.astype(np.float32),
        original_sizes=np.asarray(encoding["original_sizes"], dtype=np.int64),
        reshaped_input_sizes=np.asarray(encoding["reshaped_input_sizes"], dtype=np.int64),
        objects=objects,
        masks=[[masks[i] for i in objects[b]] for b, masks in enumerate(stacks)],
    )


def point_prompts(
    batch: TrainingBatch, rng: np.random.Generator, num_points: int = 1, negative_fraction: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Points in original pixels: the first is positive, the rest negative with ``negative_fraction`` odds.

    Returns:
        (B, P, N, 2) float64 xy points and (B, P, N) int64 labels.
    """
    shape = batch.objects.shape
    points = np.zeros((*shape, num_points, 2))
    labels = np.full((*shape, num_points), POSITIVE, dtype=np.int64)
    for b, masks in enumerate(batch.masks):
        for p, mask in enumerate(masks):
            negative = rng.random(num_points) < negative_fraction
            negative[0] = False
            if negative.any() and not mask.all():
                points[b, p, negative] = sample_negative_points(mask, int(negative.sum()), rng)
                labels[b, p, negative] = NEGATIVE
            else:
                negative[:] = False
            points[b, p, ~negative] = sample_points_in(mask, int((~negative).sum()), rng)
    return points, labels


def box_prompts(batch: TrainingBatch, rng: np.random.Generator, jitter: bool = True) -> np.ndarray:
    """(B, P, 4) float64 xyxy boxes in original pixels: each target's tight box, jittered as in SAM."""
    boxes = np.zeros((*batch.objects.shape, 4))
    for b, masks in enumerate(batch.masks):
        for p, mask in enumerate(masks):
            box = mask_to_box(mask)
            boxes[b, p] = jitter_box(box, mask.shape, rng) if jitter else box
    return boxes


def draw_prompts(batch: TrainingBatch, rng: np.random.Generator, mix: PromptMix) -> StepPrompts:
    """Draws a step's point and box prompts from ``rng`` (in this order: multi-point or not, the point count,
    the points, the boxes), so drawing them with the batch in a data worker or later gives the same prompts."""
    multi = bool(rng.random() < mix.multi_point_probability)
    num_points = int(rng.integers(2, 5)) if multi else 1
    points, labels = point_prompts(batch, rng, num_points, mix.negative_fraction)
    boxes = box_prompts(batch, rng) if mix.boxes else None
    return StepPrompts(multi, points, labels, boxes)
