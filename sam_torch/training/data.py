"""Training batches: synthetic scenes through SamProcessor (images + segmentation maps -> pixel_values, labels),
plus the objects each prompt targets and their prompts in original-image pixels.

Shape legend: B images, P prompts per image, N points per prompt, L low-res mask frame (4 x embedding grid).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from sam_core.config import SamConfig
from sam_core.image_processing import SamImageProcessor
from sam_core.processing import SamProcessor
from sam_core.synthetic import Scene

from .prompts import NEGATIVE, POSITIVE, jitter_box, mask_to_box, sample_negative_points, sample_points_in

if TYPE_CHECKING:
    from .objective import PromptMix

MIN_TARGET_CELLS = 4  # an object must cover this many cells of the low-res frame to be a training target


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
    """Processed images and per-prompt targets.

    Attributes:
        pixel_values: (B, 3, S, S) float32.
        targets: (B, P, L, L) float32 0/1 masks from the processor's labels.
        original_sizes: (B, 2) int64 (H, W).
        objects: (B, P) int64 object index in each scene (label value - 1).
        masks: B lists of P (H, W) bool full-size ground-truth masks, for prompt sampling; None once the prompts
            are drawn (a data worker then need not send them back).
        prompts: the step's prompts when they were drawn with the batch (``draw_prompts``), else None.
    """

    pixel_values: torch.Tensor
    targets: torch.Tensor
    original_sizes: np.ndarray
    objects: np.ndarray
    masks: list[list[np.ndarray]] | None
    prompts: StepPrompts | None = None

    def to(self, device: torch.device | str) -> TrainingBatch:
        """The batch with its tensors on ``device`` (the numpy parts are shared)."""
        return dataclasses.replace(
            self, pixel_values=self.pixel_values.to(device), targets=self.targets.to(device)
        )


def build_batch(
    scenes: list[Scene], processor: SamProcessor, prompts_per_image: int, rng: np.random.Generator
) -> TrainingBatch:
    """Processes scenes and picks ``prompts_per_image`` target objects per image.

    Objects are drawn without replacement while enough are visible in the low-res frame, then with replacement.
    """
    encoding = processor(
        images=[scene.image for scene in scenes], segmentation_maps=[scene.label_map for scene in scenes]
    )
    labels = encoding["labels"]  # (B, L, L) int64
    objects = np.zeros((len(scenes), prompts_per_image), dtype=np.int64)
    for b, scene in enumerate(scenes):
        cells = np.bincount(labels[b].ravel(), minlength=len(scene.masks) + 1)[1:]
        valid = np.flatnonzero(cells >= MIN_TARGET_CELLS)
        valid = valid if len(valid) else np.array([int(np.argmax(cells))])
        replace = len(valid) < prompts_per_image
        objects[b] = rng.choice(valid, size=prompts_per_image, replace=replace)
    targets = labels[:, None, :, :] == (objects[:, :, None, None] + 1)
    return TrainingBatch(
        pixel_values=torch.from_numpy(np.asarray(encoding["pixel_values"])),
        targets=torch.from_numpy(targets.astype(np.float32)),
        original_sizes=np.asarray(encoding["original_sizes"]),
        objects=objects,
        masks=[[scene.masks[i] for i in objects[b]] for b, scene in enumerate(scenes)],
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
    the points, the boxes), so drawing them with the batch in a data worker or in the training step gives the
    same prompts."""
    multi = bool(rng.random() < mix.multi_point_probability)
    num_points = int(rng.integers(2, 5)) if multi else 1
    points, labels = point_prompts(batch, rng, num_points, mix.negative_fraction)
    boxes = box_prompts(batch, rng) if mix.boxes else None
    return StepPrompts(multi, points, labels, boxes)
