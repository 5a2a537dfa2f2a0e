"""Point grids that prompt the automatic mask generator.

Shape legend: N points per grid (n_per_side squared).
"""

from __future__ import annotations

import numpy as np


def build_point_grid(n_per_side: int) -> np.ndarray:
    """Cell centres of an ``n_per_side`` x ``n_per_side`` grid over the unit square.

    Args:
        n_per_side: points along each side (> 0).

    Returns:
        (N, 2) float64 xy in [0, 1]; x runs fastest (row-major over y).
    """
    if n_per_side <= 0:
        raise ValueError(f"n_per_side must be a positive integer, got {n_per_side}")
    half_step = 1.0 / (2 * n_per_side)
    centres = np.linspace(half_step, 1.0 - half_step, n_per_side)
    xs, ys = np.meshgrid(centres, centres, indexing="xy")
    return np.stack([xs.ravel(), ys.ravel()], axis=-1)


def build_all_layer_point_grids(n_per_side: int, n_layers: int, scale_per_layer: int) -> list[np.ndarray]:
    """One grid per crop layer; layer ``i`` has ``int(n_per_side / scale_per_layer**i)`` points a side.

    Args:
        n_per_side: points a side on the full image (layer 0).
        n_layers: the number of crop layers below the full image.
        scale_per_layer: the factor by which the points a side shrink per layer.

    Returns:
        ``n_layers + 1`` arrays of shape (N_i, 2), normalized xy in [0, 1].
    """
    return [build_point_grid(int(n_per_side / (scale_per_layer**layer))) for layer in range(n_layers + 1)]
