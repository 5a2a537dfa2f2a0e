"""Corrective points from pre-drawn uniforms, so that both backends pick the same points inside their graphs.

A corrective round adds one point per prompt on the error of the previous prediction (SAM's interactive training).
The random choice is made outside the graph: ``BatchSource.arrays`` draws ``corrective_uniforms`` (R, B, P) in
[0, 1) with the batch, and the pick itself is a deterministic function that a TF graph mirrors op for op:

1. ``error = (targets XOR predicted) AND valid`` per prompt, with ``valid`` the cells over the resized image
   (``valid_cells``; the padding is never an error);
2. ``count = sum(error)``; when ``count == 0`` the candidates are the target's cells instead
   (``candidates = targets AND valid``) and the label is 1;
3. ``k = floor(u * count)`` (clamped to ``count - 1``), and the point is the k-th candidate cell in row-major order
   (for example: the first flat index whose inclusive cumulative sum of the candidates equals ``k + 1``);
4. the label is 1 when that cell is in the target (a missed cell: add it), else 0 (a spilled cell: remove it);
5. cell (x, y) of the L x L frame maps to the model frame as ((x + 0.5) * S / L, (y + 0.5) * S / L), the frame the
   processor scales prompts into (S the model's input side, passed as ``input_size``).

A prompt with no candidate at all (empty target and no error) gets the frame's cell (0, 0), label 1.

Shape legend: B images, P prompts per image, R rounds, L low-res mask frame, S model input side.
"""

from __future__ import annotations

import math

import numpy as np

from .prompts import NEGATIVE, POSITIVE


def valid_cells(reshaped_input_sizes: np.ndarray, input_size: int, frame: int) -> np.ndarray:
    """(B, L, L) bool: the low-res cells covering the resized image, not the padding.

    Args:
        reshaped_input_sizes: (B, 2) (h, w) of each resized image inside the padded ``input_size`` square.
        input_size: S, the model's input side.
        frame: L, the low-res mask side.
    """
    sizes = np.asarray(reshaped_input_sizes, dtype=np.int64).reshape(-1, 2)
    valid = np.zeros((len(sizes), frame, frame), dtype=bool)
    for b, (height, width) in enumerate(sizes):
        valid[b, : math.ceil(height * frame / input_size), : math.ceil(width * frame / input_size)] = True
    return valid


def corrective_points(
    targets: np.ndarray, predicted: np.ndarray, valid: np.ndarray, uniforms: np.ndarray, *, input_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One corrective point per prompt (see the module docstring for the rule).

    Args:
        targets: (B, P, L, L) bool ground truth in the low-res frame.
        predicted: (B, P, L, L) bool previous prediction (logits > 0).
        valid: (B, L, L) bool cells over the resized image (``valid_cells``).
        uniforms: (B, P) floats in [0, 1), one round of ``corrective_uniforms``.
        input_size: S, the model's input side (the cell size is S / L).

    Returns:
        points (B, P, 2) float32 xy in the model frame, and labels (B, P) int64 (1 or 0).
    """
    targets, predicted = np.asarray(targets, dtype=bool), np.asarray(predicted, dtype=bool)
    batch, prompts, frame = targets.shape[0], targets.shape[1], targets.shape[-1]
    inside = np.asarray(valid, dtype=bool)[:, None]  # (B, 1, L, L)
    error = ((targets ^ predicted) & inside).reshape(batch, prompts, -1)
    fallback = (targets & inside).reshape(batch, prompts, -1)
    has_error = error.any(-1)  # (B, P)
    candidates = np.where(has_error[..., None], error, fallback)
    count = candidates.sum(-1)  # (B, P)
    k = np.minimum(np.floor(np.asarray(uniforms, dtype=np.float64) * count).astype(np.int64), np.maximum(count - 1, 0))
    cumulative = np.cumsum(candidates, axis=-1)
    flat = np.argmax(cumulative == (k + 1)[..., None], axis=-1)  # 0 when there is no candidate
    y, x = np.divmod(flat, frame)
    in_target = np.take_along_axis(targets.reshape(batch, prompts, -1), flat[..., None], axis=-1)[..., 0]
    labels = np.where(has_error & ~in_target, NEGATIVE, POSITIVE).astype(np.int64)
    points = (np.stack([x, y], axis=-1).astype(np.float64) + 0.5) * (input_size / frame)
    return points.astype(np.float32), labels
