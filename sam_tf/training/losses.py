"""SAM's training losses: focal + dice on mask logits (20:1) and MSE between predicted and actual IoU (TensorFlow).

All losses work on low-resolution mask logits and ground-truth masks in the same frame (the model's 4g x 4g
output, e.g. 256 x 256, which SamProcessor's ``labels`` also use). The formulas are sam_torch.training.losses'.

Shape legend: ... any leading dims (B images, P prompts), K masks per prompt, H x W mask frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from sam_core.training.config import DICE_WEIGHT, FOCAL_WEIGHT, IOU_WEIGHT

_FRAME_AXES = (-2, -1)


def _broadcast_targets(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    return tf.broadcast_to(tf.cast(targets, logits.dtype), tf.shape(logits))


def sigmoid_focal_loss(logits: tf.Tensor, targets: tf.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> tf.Tensor:
    """Focal loss of RetinaNet, averaged over the pixels.

    Args:
        logits: (..., H, W) mask logits.
        targets: (..., H, W) 0/1 ground truth (broadcastable to ``logits``).
        alpha: weight of the positive class (1 - alpha for the negative); negative disables the weighting.
        gamma: focusing exponent.

    Returns:
        (...) loss per mask.
    """
    targets = _broadcast_targets(logits, targets)
    probs = tf.sigmoid(logits)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    p_t = probs * targets + (1 - probs) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return tf.reduce_mean(loss, axis=_FRAME_AXES)


def dice_loss(logits: tf.Tensor, targets: tf.Tensor, smooth: float = 1.0) -> tf.Tensor:
    """Soft dice loss ``1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s)`` with ``p = sigmoid(logits)``.

    Args:
        logits: (..., H, W).
        targets: (..., H, W) 0/1 (broadcastable).
        smooth: additive smoothing ``s``.

    Returns:
        (...) loss per mask.
    """
    probs = tf.sigmoid(logits)
    targets = _broadcast_targets(logits, targets)
    numerator = 2 * tf.reduce_sum(probs * targets, axis=_FRAME_AXES) + smooth
    denominator = tf.reduce_sum(probs, axis=_FRAME_AXES) + tf.reduce_sum(targets, axis=_FRAME_AXES) + smooth
    return 1 - numerator / denominator


def mask_iou(logits: tf.Tensor, targets: tf.Tensor, threshold: float = 0.0) -> tf.Tensor:
    """IoU of the binarized prediction (``logits > threshold``) with the targets; 1 when both are empty.

    Args:
        logits: (..., H, W).
        targets: (..., H, W) 0/1 (broadcastable).

    Returns:
        (...) IoU, without gradient.
    """
    pred = tf.stop_gradient(logits) > threshold
    truth = tf.broadcast_to(targets > 0.5, tf.shape(logits))
    count = lambda cells: tf.reduce_sum(tf.cast(cells, logits.dtype), axis=_FRAME_AXES)  # noqa: E731
    intersection, union = count(pred & truth), count(pred | truth)
    return tf.where(union > 0, intersection / tf.maximum(union, 1), tf.ones_like(union))


@dataclass
class LossParts:
    """Scalar losses of one prompt batch: total = 20 focal + dice + iou (by default), and the actual IoU."""

    total: tf.Tensor
    focal: tf.Tensor
    dice: tf.Tensor
    iou: tf.Tensor
    mask_iou: tf.Tensor

    def as_floats(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in ("total", "focal", "dice", "iou", "mask_iou")}


def sam_loss(
    logits: tf.Tensor,
    iou_predictions: tf.Tensor,
    targets: tf.Tensor,
    *,
    focal_weight: float = FOCAL_WEIGHT,
    dice_weight: float = DICE_WEIGHT,
    iou_weight: float = IOU_WEIGHT,
) -> tuple[LossParts, tf.Tensor]:
    """SAM's loss for K candidate masks per prompt; with K > 1 only the lowest-loss mask is supervised.

    The IoU head is trained on every one of the K outputs (MSE to the IoU of its binarized mask), so that it can
    rank the candidates at inference.

    Args:
        logits: (..., K, H, W) mask logits.
        iou_predictions: (..., K) predicted IoUs.
        targets: (..., H, W) 0/1 ground-truth masks in the logits' frame.
        focal_weight, dice_weight, iou_weight: weights of the three terms (20 : 1 : 1 as in the SAM paper).

    Returns:
        The mean LossParts over the prompts, and the (...) int64 index of the supervised mask of each prompt.
    """
    if logits.shape[-2:] != targets.shape[-2:]:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} need the same frame")
    targets = tf.cast(targets, logits.dtype)[..., None, :, :]
    focal = sigmoid_focal_loss(logits, targets)  # (..., K)
    dice = dice_loss(logits, targets)
    mask_loss = focal_weight * focal + dice_weight * dice
    best = tf.argmin(tf.stop_gradient(mask_loss), axis=-1)  # (...)
    chosen = tf.one_hot(best, tf.shape(mask_loss)[-1], dtype=mask_loss.dtype)
    pick = lambda values: tf.reduce_sum(values * chosen, axis=-1)  # noqa: E731
    actual_iou = mask_iou(logits, targets)
    iou = tf.reduce_mean(tf.square(tf.cast(iou_predictions, logits.dtype) - actual_iou), axis=-1)
    parts = LossParts(
        total=tf.reduce_mean(pick(mask_loss) + iou_weight * iou),
        focal=tf.reduce_mean(pick(focal)),
        dice=tf.reduce_mean(pick(dice)),
        iou=tf.reduce_mean(iou),
        mask_iou=tf.reduce_mean(pick(actual_iou)),
    )
    return parts, best
