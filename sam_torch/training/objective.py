"""One training step's loss: the image is encoded once, then decoded for point prompts (best of 3 masks for one
point, the single mask for several), box prompts (single mask), and optional corrective rounds that add a point
on the previous error and feed the previous low-res logits back as ``input_masks``.

Shape legend: B images, P prompts per image, N points, K masks, C channels, g grid, L = 4g mask frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sam_core.image_transforms import preprocess_shape
from sam_core.processing import SamProcessor

from .data import TrainingBatch, draw_prompts
from .losses import DICE_WEIGHT, FOCAL_WEIGHT, IOU_WEIGHT, LossParts, sam_loss
from .prompts import corrective_point, frame_to_original


@dataclass
class LossWeights:
    """Weights of the mask losses and the IoU-head loss (``sam_loss``); the defaults are SAM's 20 : 1 : 1."""

    focal: float = FOCAL_WEIGHT
    dice: float = DICE_WEIGHT
    iou: float = IOU_WEIGHT

    def as_kwargs(self) -> dict[str, float]:
        return {"focal_weight": self.focal, "dice_weight": self.dice, "iou_weight": self.iou}


@dataclass
class PromptMix:
    """Which prompts a step trains on.

    Attributes:
        multi_point_probability: chance that a step's point prompts have 2-4 points (single-mask output)
            rather than one positive point (best of the 3 multimask outputs).
        negative_fraction: share of negative points among the extra points.
        boxes: also train on jittered box prompts (single-mask output).
        corrective_rounds: extra rounds after the point prompts, each adding a corrective point.
    """

    multi_point_probability: float = 0.25
    negative_fraction: float = 0.3
    boxes: bool = True
    corrective_rounds: int = 0


def _processed_points(
    processor: SamProcessor, sizes: np.ndarray, points: np.ndarray, labels: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    encoding = processor(original_sizes=sizes, input_points=points, input_labels=labels)
    return torch.from_numpy(encoding["input_points"]).to(device), torch.from_numpy(encoding["input_labels"]).to(device)


def _valid_window(original_size: np.ndarray, target_size: int, frame: int) -> np.ndarray:
    """(L, L) bool: the low-res cells covering the resized image (not the padding)."""
    new_h, new_w = preprocess_shape((int(original_size[0]), int(original_size[1])), target_size)
    window = np.zeros((frame, frame), dtype=bool)
    window[: math.ceil(new_h * frame / target_size), : math.ceil(new_w * frame / target_size)] = True
    return window


def step_loss(
    model: torch.nn.Module,
    processor: SamProcessor,
    batch: TrainingBatch,
    rng: np.random.Generator,
    mix: PromptMix,
    weights: LossWeights | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The summed loss of every prompt pass of one batch, and its parts for logging.

    ``weights`` (default: SAM's 20 : 1 : 1) weight focal, dice and IoU losses in every pass. The prompts are
    ``batch.prompts`` when the batch came with them, else drawn here from ``rng`` (the same draws). The batch's
    tensors must be on the model's device.

    Returns:
        (scalar loss with gradient, {"loss", "point", "box", "correct", "focal", "dice", "iou", "point_iou",
        "box_iou"} floats; the focal / dice / iou parts are averaged over the passes).
    """
    loss_kwargs = (weights or LossWeights()).as_kwargs()
    device = batch.pixel_values.device
    prompts = batch.prompts if batch.prompts is not None else draw_prompts(batch, rng, mix)
    multi, points, labels = prompts.multi, prompts.points, prompts.labels
    embeddings = model.vision_encoder(batch.pixel_values)[0]  # (B, C, g, g)
    passes: dict[str, LossParts] = {}
    coords, coord_labels = _processed_points(processor, batch.original_sizes, points, labels, device)
    out = model(image_embeddings=embeddings, input_points=coords, input_labels=coord_labels, multimask_output=not multi)
    passes["point"], best = sam_loss(out.pred_masks, out.iou_scores, batch.targets, **loss_kwargs)
    if prompts.boxes is not None:
        encoding = processor(original_sizes=batch.original_sizes, input_boxes=prompts.boxes)
        boxes = torch.from_numpy(encoding["input_boxes"]).to(device)
        out_box = model(image_embeddings=embeddings, input_boxes=boxes, multimask_output=False)
        passes["box"], _ = sam_loss(out_box.pred_masks, out_box.iou_scores, batch.targets, **loss_kwargs)
    if mix.corrective_rounds:
        chosen = out.iou_scores.detach().argmax(-1) if not multi else torch.zeros_like(best)
        logits = out.pred_masks.detach().gather(
            2, chosen[:, :, None, None, None].expand(-1, -1, 1, *out.pred_masks.shape[-2:])
        )[:, :, 0]  # (B, P, L, L)
        passes.update(
            _corrective_rounds(model, processor, batch, rng, mix, embeddings, points, labels, logits, loss_kwargs)
        )
    total = sum(parts.total for parts in passes.values())
    logged = {"loss": float(total.detach())}
    logged.update({name: float(parts.total.detach()) for name, parts in passes.items()})
    for part in ("focal", "dice", "iou"):
        logged[part] = float(np.mean([float(getattr(p, part).detach()) for p in passes.values()]))
    logged.update({f"{name}_iou": float(parts.mask_iou) for name, parts in passes.items() if name != "correct"})
    return total, logged


def _corrective_rounds(
    model: torch.nn.Module,
    processor: SamProcessor,
    batch: TrainingBatch,
    rng: np.random.Generator,
    mix: PromptMix,
    embeddings: torch.Tensor,
    points: np.ndarray,
    labels: np.ndarray,
    logits: torch.Tensor,
    loss_kwargs: dict[str, float] | None = None,
) -> dict[str, LossParts]:
    """Rounds of one corrective point each; every prompt becomes its own 'image' so it can get its own mask input.

    Returns:
        {"correct": the rounds' mean LossParts}.
    """
    batch_size, prompts = batch.objects.shape
    frame = logits.shape[-1]
    target_size = processor.target_size
    targets = batch.targets.cpu().numpy() > 0.5
    flat_embeddings = embeddings.repeat_interleave(prompts, 0)
    flat_sizes = np.repeat(batch.original_sizes, prompts, axis=0)
    rounds = []
    for _ in range(mix.corrective_rounds):
        predicted = logits.cpu().numpy() > 0
        new_points = np.zeros((batch_size, prompts, 1, 2))
        new_labels = np.zeros((batch_size, prompts, 1), dtype=np.int64)
        for b in range(batch_size):
            window = _valid_window(batch.original_sizes[b], target_size, frame)
            for p in range(prompts):
                cell, label = corrective_point(targets[b, p], predicted[b, p] & window, rng)
                new_points[b, p, 0] = frame_to_original(cell, batch.original_sizes[b], target_size, frame)
                new_labels[b, p, 0] = label
        points = np.concatenate([points, new_points], axis=2)
        labels = np.concatenate([labels, new_labels], axis=2)
        flat_points = points.reshape(batch_size * prompts, 1, -1, 2)
        flat_labels = labels.reshape(len(flat_points), 1, -1)
        coords, coord_labels = _processed_points(processor, flat_sizes, flat_points, flat_labels, embeddings.device)
        out = model(
            image_embeddings=flat_embeddings,
            input_points=coords,
            input_labels=coord_labels,
            input_masks=logits.reshape(batch_size * prompts, 1, frame, frame),
            multimask_output=False,
        )
        pred = out.pred_masks.reshape(batch_size, prompts, 1, frame, frame)
        parts, _ = sam_loss(pred, out.iou_scores.reshape(batch_size, prompts, 1), batch.targets, **(loss_kwargs or {}))
        rounds.append(parts)
        logits = pred[:, :, 0].detach()
    mean = lambda name: torch.stack([getattr(r, name) for r in rounds]).mean()  # noqa: E731
    return {"correct": LossParts(*(mean(n) for n in ("total", "focal", "dice", "iou", "mask_iou")))}
