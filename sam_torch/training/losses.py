"""SAM's training losses: focal + dice on mask logits (20:1) and MSE between predicted and actual IoU.

All losses work on low-resolution mask logits and ground-truth masks in the same frame (the model's 4g x 4g
output, e.g. 256 x 256, which SamProcessor's ``labels`` also use).

Shape legend: ... any leading dims (B images, P prompts), K masks per prompt, H x W mask frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from sam_core.training.config import DICE_WEIGHT, FOCAL_WEIGHT, IOU_WEIGHT


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Focal loss of RetinaNet, averaged over the pixels.

    Args:
        logits: (..., H, W) mask logits.
        targets: (..., H, W) 0/1 ground truth (broadcastable to ``logits``).
        alpha: weight of the positive class (1 - alpha for the negative); negative disables the weighting.
        gamma: focusing exponent.

    Returns:
        (...) loss per mask.
    """
    targets = targets.to(logits.dtype).expand_as(logits)
    probs = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = probs * targets + (1 - probs) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.flatten(-2).mean(-1)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft dice loss ``1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s)`` with ``p = sigmoid(logits)``.

    Args:
        logits: (..., H, W).
        targets: (..., H, W) 0/1 (broadcastable).
        smooth: additive smoothing ``s``.

    Returns:
        (...) loss per mask.
    """
    probs = torch.sigmoid(logits).flatten(-2)
    targets = targets.to(logits.dtype).expand_as(logits).flatten(-2)
    numerator = 2 * (probs * targets).sum(-1) + smooth
    return 1 - numerator / (probs.sum(-1) + targets.sum(-1) + smooth)


def mask_iou(logits: torch.Tensor, targets: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """IoU of the binarized prediction (``logits > threshold``) with the targets; 1 when both are empty.

    Args:
        logits: (..., H, W).
        targets: (..., H, W) 0/1 (broadcastable).

    Returns:
        (...) IoU, without gradient.
    """
    pred = (logits.detach() > threshold).flatten(-2)
    truth = (targets > 0.5).expand_as(logits).flatten(-2)
    intersection = (pred & truth).sum(-1).to(logits.dtype)
    union = (pred | truth).sum(-1).to(logits.dtype)
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


@dataclass
class LossParts:
    """Scalar losses of one prompt batch: total = 20 focal + dice + iou (by default), and the actual IoU."""

    total: torch.Tensor
    focal: torch.Tensor
    dice: torch.Tensor
    iou: torch.Tensor
    mask_iou: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {name: float(getattr(self, name).detach()) for name in ("total", "focal", "dice", "iou", "mask_iou")}


def sam_loss(
    logits: torch.Tensor,
    iou_predictions: torch.Tensor,
    targets: torch.Tensor,
    *,
    focal_weight: float = FOCAL_WEIGHT,
    dice_weight: float = DICE_WEIGHT,
    iou_weight: float = IOU_WEIGHT,
) -> tuple[LossParts, torch.Tensor]:
    """SAM's loss for K candidate masks per prompt; with K > 1 only the lowest-loss mask is supervised.

    The IoU head is trained on every one of the K outputs (MSE to the IoU of its binarized mask), so that it can
    rank the candidates at inference.

    Args:
        logits: (..., K, H, W) mask logits.
        iou_predictions: (..., K) predicted IoUs.
        targets: (..., H, W) 0/1 ground-truth masks in the logits' frame.
        focal_weight, dice_weight, iou_weight: weights of the three terms (20 : 1 : 1 as in the SAM paper).

    Returns:
        The mean LossParts over the prompts, and the (...) index of the supervised mask of each prompt.
    """
    if logits.shape[-2:] != targets.shape[-2:]:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} need the same frame")
    targets = targets.to(logits.dtype).unsqueeze(-3)
    focal = sigmoid_focal_loss(logits, targets)  # (..., K)
    dice = dice_loss(logits, targets)
    mask_loss = focal_weight * focal + dice_weight * dice
    best = mask_loss.detach().argmin(-1)  # (...)
    pick = lambda values: values.gather(-1, best.unsqueeze(-1)).squeeze(-1)  # noqa: E731
    actual_iou = mask_iou(logits, targets)
    iou = F.mse_loss(iou_predictions, actual_iou, reduction="none").mean(-1)
    parts = LossParts(
        total=(pick(mask_loss) + iou_weight * iou).mean(),
        focal=pick(focal).mean(),
        dice=pick(dice).mean(),
        iou=iou.mean(),
        mask_iou=pick(actual_iou).mean(),
    )
    return parts, best
