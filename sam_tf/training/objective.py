"""One training step's loss (TensorFlow): the image is encoded once, then decoded for point prompts (best of 3 masks
for one point, the single mask for several), box prompts (single mask), and optional corrective rounds that add a
point on the previous error and feed the previous low-res logits back as ``input_masks``.

The step reads the arrays of ``sam_core.training.BatchSource.arrays`` (prompts already in the model frame). The
point pass decodes every mask token once and picks the multimask or the single-mask output by the ``multimask``
tensor, so one traced graph serves both kinds of step; the numbers are sam_torch.training.objective's. Corrective
points follow ``sam_core.training.corrective`` op for op, from the batch's ``corrective_uniforms``.

Shape legend: B images, P prompts per image, N points, K masks (all mask tokens: 4), C channels, g grid,
L = 4g mask frame, S model input side, R corrective rounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sam_core.training.config import LossWeights

from .losses import LossParts, sam_loss

_PARTS = ("total", "focal", "dice", "iou", "mask_iou")


def _decode(
    model: keras.Model,
    embeddings: tf.Tensor,
    points: tf.Tensor | None = None,
    labels: tf.Tensor | None = None,
    boxes: tf.Tensor | None = None,
    masks: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Masks and IoU predictions of every mask token.

    Args:
        model: a TFSamModel.
        embeddings: (B, g, g, C) channels-last image embeddings.
        points: (B, P, N, 2) model-frame xy; labels: (B, P, N) int32.
        boxes: (B, P, 4) model-frame xyxy.
        masks: (B, L, L, 1) channels-last mask logits.

    Returns:
        (B, P, K, L, L) mask logits and (B, P, K) IoU predictions; index 0 is the single-mask output.
    """
    positional = tf.tile(model.get_image_wide_positional_embeddings(), (tf.shape(embeddings)[0], 1, 1, 1))
    sparse, dense = model.prompt_encoder(points, labels, boxes, masks)
    logits, iou, _ = model.mask_decoder.predict_masks(embeddings, positional, sparse, dense)
    return logits, iou


def _where_parts(condition: tf.Tensor, if_true: LossParts, if_false: LossParts) -> LossParts:
    return LossParts(*(tf.where(condition, getattr(if_true, n), getattr(if_false, n)) for n in _PARTS))


def _mean_parts(rounds: list[LossParts]) -> LossParts:
    return LossParts(*(tf.reduce_mean(tf.stack([getattr(r, n) for r in rounds])) for n in _PARTS))


def step_loss(
    model: keras.Model,
    arrays: Mapping[str, Any],
    weights: LossWeights | None = None,
    autocast: str | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The summed loss of every prompt pass of one batch, and its parts for logging (sam_torch's ``step_loss``).

    Args:
        model: a TFSamModel.
        arrays: the step's training arrays (``sam_core.training.training_arrays``; numpy or tensors):
            pixel_values, targets, input_points, input_labels, multimask, reshaped_input_sizes, and input_boxes
            (the box pass), corrective_uniforms (R corrective rounds) and image_embeddings ((B, g, g, C), given
            for a frozen image encoder instead of running it) when present.
        weights: focal / dice / IoU weights of every pass (default SAM's 20 : 1 : 1).
        autocast: must be None: the Keras backend trains in float32.

    Returns:
        (scalar loss, {"loss", "point", "box", "correct", "focal", "dice", "iou", "point_iou", "box_iou"} scalar
        tensors; box / correct only for the passes that ran, focal / dice / iou averaged over the passes).

    Raises:
        ValueError: an ``autocast`` other than None.
    """
    if autocast is not None:
        raise ValueError(
            f"autocast={autocast!r} (TrainConfig.autocast) is not supported by the Keras backend, which trains in "
            "float32: set it to None, or train with the torch backend"
        )
    loss_kwargs = (weights or LossWeights()).as_kwargs()
    dtype = model.compute_dtype
    pixel_values = tf.cast(arrays["pixel_values"], dtype)  # (B, 3, S, S): the encoder takes channels first
    targets = tf.cast(arrays["targets"], dtype)
    points = tf.cast(arrays["input_points"], dtype)
    labels = tf.cast(arrays["input_labels"], tf.int32)
    multimask = tf.cast(arrays["multimask"], tf.bool)
    if "image_embeddings" in arrays:  # a frozen encoder's, computed once per image (Trainer's EmbeddingCache)
        embeddings = tf.cast(arrays["image_embeddings"], dtype)  # (B, g, g, C)
    else:
        embeddings = model.vision_encoder(pixel_values)[0]  # (B, g, g, C)
    passes: dict[str, LossParts] = {}

    logits, iou = _decode(model, embeddings, points, labels)
    best_of_three, _ = sam_loss(logits[:, :, 1:], iou[:, :, 1:], targets, **loss_kwargs)
    single, _ = sam_loss(logits[:, :, :1], iou[:, :, :1], targets, **loss_kwargs)
    passes["point"] = _where_parts(multimask, best_of_three, single)
    if "input_boxes" in arrays:
        box_logits, box_iou = _decode(model, embeddings, boxes=tf.cast(arrays["input_boxes"], dtype))
        passes["box"], _ = sam_loss(box_logits[:, :, :1], box_iou[:, :, :1], targets, **loss_kwargs)
    if "corrective_uniforms" in arrays:
        # The mask fed back: the multimask output the IoU head ranks first, else the single mask.
        ranked = tf.one_hot(tf.argmax(iou[:, :, 1:], axis=-1), logits.shape[2] - 1, dtype=logits.dtype)
        by_iou = tf.einsum("bpk,bpkhw->bphw", ranked, logits[:, :, 1:])
        previous = tf.stop_gradient(tf.where(multimask, by_iou, logits[:, :, 0]))
        passes["correct"] = _corrective_rounds(
            model, arrays, embeddings, targets, points, labels, previous, loss_kwargs
        )
    return _total_and_logs(passes)


def _total_and_logs(passes: dict[str, LossParts]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    total = tf.add_n([parts.total for parts in passes.values()])
    logged = {"loss": total}
    logged.update({name: parts.total for name, parts in passes.items()})
    for part in ("focal", "dice", "iou"):
        logged[part] = tf.reduce_mean(tf.stack([getattr(parts, part) for parts in passes.values()]))
    logged.update({f"{name}_iou": parts.mask_iou for name, parts in passes.items() if name != "correct"})
    return total, logged


def valid_cells(reshaped_input_sizes: tf.Tensor, input_size: int, frame: int) -> tf.Tensor:
    """(B, L, L) bool: the low-res cells covering the resized image (``sam_core.training.corrective.valid_cells``).

    Args:
        reshaped_input_sizes: (B, 2) (h, w) of each resized image inside the padded ``input_size`` square.
        input_size: S; frame: L.
    """
    sizes = tf.cast(reshaped_input_sizes, tf.int64)
    covered = (sizes * frame + input_size - 1) // input_size  # ceil(size * L / S), exactly
    cells = tf.range(frame, dtype=tf.int64)
    rows = cells[None, :] < covered[:, 0:1]  # (B, L)
    columns = cells[None, :] < covered[:, 1:2]
    return rows[:, :, None] & columns[:, None, :]


def corrective_points(
    targets: tf.Tensor, predicted: tf.Tensor, valid: tf.Tensor, uniforms: tf.Tensor, *, input_size: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """One corrective point per prompt: ``sam_core.training.corrective.corrective_points`` in TF ops.

    Args:
        targets: (B, P, L, L) bool; predicted: (B, P, L, L) bool; valid: (B, L, L) bool.
        uniforms: (B, P) float64 in [0, 1).
        input_size: S.

    Returns:
        points (B, P, 2) float32 xy in the model frame and labels (B, P) int32 (1 or 0).
    """
    frame = targets.shape[-1]
    flat_shape = tf.concat([tf.shape(targets)[:2], [-1]], axis=0)
    inside = valid[:, None]
    error = tf.reshape(tf.math.logical_xor(targets, predicted) & inside, flat_shape)
    fallback = tf.reshape(targets & inside, flat_shape)
    has_error = tf.reduce_any(error, axis=-1)  # (B, P)
    candidates = tf.cast(tf.where(has_error[..., None], error, fallback), tf.int64)
    count = tf.reduce_sum(candidates, axis=-1)
    k = tf.minimum(tf.cast(tf.floor(uniforms * tf.cast(count, tf.float64)), tf.int64), tf.maximum(count - 1, 0))
    hits = tf.cast(tf.equal(tf.cumsum(candidates, axis=-1), (k + 1)[..., None]), tf.int32)
    flat = tf.argmax(hits, axis=-1)  # first hit; 0 when there is no candidate
    in_target = tf.reduce_any(tf.reshape(targets, flat_shape) & tf.one_hot(flat, frame * frame, True, False), -1)
    labels = tf.where(has_error & ~in_target, 0, 1)
    xy = tf.stack([flat % frame, flat // frame], axis=-1)
    points = (tf.cast(xy, tf.float64) + 0.5) * (input_size / frame)
    return tf.cast(points, tf.float32), labels


def _corrective_rounds(
    model: keras.Model,
    arrays: Mapping[str, Any],
    embeddings: tf.Tensor,
    targets: tf.Tensor,
    points: tf.Tensor,
    labels: tf.Tensor,
    logits: tf.Tensor,
    loss_kwargs: dict[str, float],
) -> LossParts:
    """Rounds of one corrective point each; every prompt becomes its own 'image' so it gets its own mask input.

    Args:
        embeddings: (B, g, g, C); targets: (B, P, L, L); points (B, P, N, 2) and labels (B, P, N) of the point
        pass; logits: (B, P, L, L) the point pass's chosen low-res logits (no gradient).

    Returns:
        The rounds' mean LossParts.
    """
    batch, prompts = tf.shape(targets)[0], tf.shape(targets)[1]
    frame = targets.shape[-1]
    input_size = model.config.vision_config.image_size
    if "valid_cells" in arrays:
        valid = tf.cast(arrays["valid_cells"], tf.bool)
    else:
        valid = valid_cells(arrays["reshaped_input_sizes"], input_size, frame)
    truth = targets > 0.5
    uniforms = tf.cast(arrays["corrective_uniforms"], tf.float64)  # (R, B, P)
    flat_embeddings = tf.repeat(embeddings, prompts, axis=0)
    rounds = []
    for r in range(uniforms.shape[0]):
        new_points, new_labels = corrective_points(truth, logits > 0, valid, uniforms[r], input_size=input_size)
        points = tf.concat([points, tf.cast(new_points[:, :, None], points.dtype)], axis=2)
        labels = tf.concat([labels, tf.cast(new_labels[:, :, None], labels.dtype)], axis=2)
        flat = lambda value: tf.reshape(value, tf.concat([[batch * prompts, 1], tf.shape(value)[2:]], 0))  # noqa: E731
        mask_input = tf.reshape(logits, (-1, frame, frame, 1))
        pred, iou = _decode(model, flat_embeddings, flat(points), flat(labels), masks=mask_input)
        pred = tf.reshape(pred[:, :, :1], (batch, prompts, 1, frame, frame))
        parts, _ = sam_loss(pred, tf.reshape(iou[:, :, :1], (batch, prompts, 1)), targets, **loss_kwargs)
        rounds.append(parts)
        logits = tf.stop_gradient(pred[:, :, 0])
    return _mean_parts(rounds)


def to_numpy_logs(logged: Mapping[str, tf.Tensor]) -> dict[str, float]:
    """The logged tensors of ``step_loss`` as Python floats."""
    return {name: float(np.asarray(value)) for name, value in logged.items()}
