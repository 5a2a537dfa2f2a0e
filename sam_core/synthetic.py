"""Seeded synthetic scenes for training and evaluating SAM: shapes over backgrounds, with each object's visible mask.

A scene holds 1 to 6 (by default) ellipses, rectangles, triangles and random star-shaped polygons, possibly
rotated and overlapping, filled with a solid colour or a linear gradient, over a plain, noisy or textured
background (stripes, checkerboard, smoothed noise, gradient). Later objects occlude earlier ones; each object's
mask is the part of it that stays visible, and objects left with too little visible area are dropped. Images are
256 to 1024 pixels on the long side by default, with any aspect ratio in a range.

``difficulty`` (0..1) is a curriculum knob: it raises the number of objects, lowers the minimum contrast between
an object and the background, and makes textured backgrounds and small objects more likely.

Everything is numpy + pillow; a scene is a pure function of its seed and arguments.

Shape legend: H x W image size, O objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageDraw

SHAPE_KINDS = ("ellipse", "rectangle", "triangle", "polygon")
BACKGROUND_KINDS = ("plain", "noisy", "stripes", "checker", "smooth_noise", "gradient")


@dataclass
class Scene:
    """One synthetic image and its objects.

    Attributes:
        image: (H, W, 3) uint8.
        masks: O visible boolean (H, W) masks, pairwise disjoint, in drawing order (back to front).
        kinds: O shape names from SHAPE_KINDS.
        colors: O (2, 3) float arrays, each object's gradient end colours (equal rows for a solid fill).
    """

    image: np.ndarray
    masks: list[np.ndarray]
    kinds: list[str] = field(default_factory=list)
    colors: list[np.ndarray] = field(default_factory=list)

    @property
    def label_map(self) -> np.ndarray:
        """(H, W) uint8 map: 0 background, i + 1 on object i's visible pixels (a SamProcessor segmentation map)."""
        labels = np.zeros(self.image.shape[:2], dtype=np.uint8)
        for index, mask in enumerate(self.masks):
            labels[mask] = index + 1
        return labels


def _rng(rng_or_seed: np.random.Generator | int | Sequence[int]) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(rng_or_seed)


def _image_size(rng: np.random.Generator, long_side: tuple[int, int], aspect: tuple[float, float]) -> tuple[int, int]:
    """(H, W) with the long side in ``long_side`` and short/long in ``aspect``, landscape or portrait."""
    longest = int(rng.integers(long_side[0], long_side[1] + 1))
    shortest = max(16, int(round(longest * rng.uniform(*aspect))))
    return (longest, shortest) if rng.random() < 0.5 else (shortest, longest)


def _random_color(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def _contrasting_color(rng: np.random.Generator, reference: np.ndarray, min_distance: float) -> np.ndarray:
    """A random RGB colour at least ``min_distance`` (Euclidean, 0..441) from ``reference`` when one is found."""
    best, best_distance = _random_color(rng), -1.0
    for _ in range(20):
        color = _random_color(rng)
        distance = float(np.linalg.norm(color - reference))
        if distance >= min_distance:
            return color
        if distance > best_distance:
            best, best_distance = color, distance
    return best


def _background(rng: np.random.Generator, height: int, width: int, difficulty: float) -> np.ndarray:
    """(H, W, 3) float32 background of a random kind; textures are likelier at higher difficulty."""
    plain_weight = 1.5 * (1.0 - difficulty) + 0.5
    weights = np.array([plain_weight, 1.0, 0.5 + difficulty, 0.5 + difficulty, 0.5 + difficulty, 1.0])
    kind = BACKGROUND_KINDS[int(rng.choice(len(BACKGROUND_KINDS), p=weights / weights.sum()))]
    base, other = _random_color(rng), _random_color(rng)
    yy, xx = (axis.astype(np.float32) for axis in np.ogrid[0:height, 0:width])
    if kind == "plain":
        return np.broadcast_to(base, (height, width, 3)).astype(np.float32)
    if kind == "noisy":
        noise = rng.normal(0.0, rng.uniform(4, 8 + 20 * difficulty), size=(height, width, 3))
        return (base + noise).astype(np.float32)
    if kind == "gradient" or kind == "stripes":
        angle = rng.uniform(0, np.pi)
        along = xx * np.cos(angle) + yy * np.sin(angle)
        if kind == "gradient":
            t = (along - along.min()) / max(float(np.ptp(along)), 1.0)
        else:
            period = rng.uniform(6, 0.25 * max(height, width))
            t = 0.5 + 0.5 * np.sin(2 * np.pi * along / period)
        return (base + t[..., None] * (other - base)).astype(np.float32)
    if kind == "checker":
        cell = int(rng.integers(4, max(5, min(height, width) // 4)))
        t = ((yy // cell + xx // cell) % 2).astype(np.float32)
        other = base + rng.uniform(0.15, 0.6) * (other - base)  # a milder checker than full random contrast
        return (base + t[..., None] * (other - base)).astype(np.float32)
    low = rng.uniform(0, 255, size=(int(rng.integers(2, 9)), int(rng.integers(2, 9)), 3)).astype(np.uint8)
    smooth = np.asarray(PIL.Image.fromarray(low).resize((width, height), PIL.Image.Resampling.BICUBIC))
    return smooth.astype(np.float32)


def _vertex_angles(rng: np.random.Generator, count: int, min_gap: float) -> np.ndarray:
    """(count,) sorted polar angles of polygon vertices around a centre, every gap between neighbours in
    [min_gap, pi): a gap of pi or more would leave the centre outside the polygon, which could then lie wholly
    outside the image and leave an empty mask."""
    while True:
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        gaps = np.diff(np.r_[angles, angles[0] + 2 * np.pi])
        if gaps.min() >= min_gap and gaps.max() < np.pi:
            return angles


def _shape_polygon(rng: np.random.Generator, kind: str, center: np.ndarray, radius: float) -> np.ndarray:
    """(V, 2) xy vertices of a shape of about ``radius`` around ``center``, randomly rotated."""
    if kind == "ellipse":
        t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        local = np.stack([np.cos(t), rng.uniform(0.35, 1.0) * np.sin(t)], axis=-1)
    elif kind == "rectangle":
        half_h = rng.uniform(0.3, 1.0)
        local = np.array([[-1.0, -half_h], [1.0, -half_h], [1.0, half_h], [-1.0, half_h]])
    elif kind == "triangle":
        angles = _vertex_angles(rng, 3, min_gap=0.8)  # no slivers
        local = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    else:  # a star-shaped polygon around the centre is always simple
        count = int(rng.integers(5, 11))
        angles = _vertex_angles(rng, count, min_gap=0.0)
        radii = rng.uniform(0.45, 1.0, count)
        local = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=-1)
    theta = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return center + radius * local @ rotation.T


def _rasterize(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of a filled polygon (PIL, no antialiasing)."""
    canvas = PIL.Image.new("1", (width, height), 0)
    PIL.ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon.tolist()], fill=1)
    return np.asarray(canvas, dtype=bool)


def _fill(rng: np.random.Generator, colors: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n, 3) float32 fill for the True pixels of ``mask``: a linear gradient from colors[0] to colors[1]."""
    ys, xs = np.nonzero(mask)
    if np.allclose(colors[0], colors[1]):
        return np.broadcast_to(colors[0], (len(ys), 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    along = xs * np.cos(angle) + ys * np.sin(angle)
    t = (along - along.min()) / max(float(np.ptp(along)), 1.0)
    return (colors[0] + t[:, None] * (colors[1] - colors[0])).astype(np.float32)


def make_scene(
    rng_or_seed: np.random.Generator | int | Sequence[int],
    *,
    min_objects: int = 1,
    max_objects: int = 6,
    long_side: tuple[int, int] = (256, 1024),
    aspect: tuple[float, float] = (0.4, 1.0),
    difficulty: float = 1.0,
    gradient_probability: float = 0.5,
    min_visible_fraction: float = 0.002,
    min_visible_pixels: int = 64,
) -> Scene:
    """Draws one scene.

    Args:
        rng_or_seed: a numpy Generator (advanced in place) or a seed for ``np.random.default_rng``.
        min_objects: fewest objects drawn (fewer may survive occlusion, at least one always does).
        max_objects: most objects drawn; at difficulty d the upper bound is
            ``min_objects + round(d * (max_objects - min_objects))``.
        long_side: (lo, hi) pixel range of the longer image side.
        aspect: (lo, hi) range of short side / long side.
        difficulty: 0 (few, large, high-contrast objects on plain backgrounds) .. 1 (the full description).
        gradient_probability: chance that an object gets a gradient fill rather than a solid one.
        min_visible_fraction: objects whose visible area is below this fraction of the image are dropped.
        min_visible_pixels: ... or below this many pixels.

    Returns:
        A Scene with image (H, W, 3) uint8 and the visible masks.
    """
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
    rng = _rng(rng_or_seed)
    difficulty = float(np.clip(difficulty, 0.0, 1.0))
    height, width = _image_size(rng, long_side, aspect)
    background = _background(rng, height, width, difficulty)
    reference = background.reshape(-1, 3).mean(axis=0)
    upper = min_objects + int(round(difficulty * (max_objects - min_objects)))
    count = int(rng.integers(min_objects, upper + 1))
    short = min(height, width)
    min_radius = (0.22 - 0.15 * difficulty) * short
    shapes, kinds, colors = [], [], []
    for _ in range(count):
        kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
        radius = rng.uniform(min_radius, 0.4 * short)
        center = np.array([rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height])
        shapes.append(_rasterize(_shape_polygon(rng, kind, center, radius), height, width))
        first = _contrasting_color(rng, reference, min_distance=160.0 * (1.0 - difficulty) + 40.0)
        second = _contrasting_color(rng, reference, 40.0) if rng.random() < gradient_probability else first
        kinds.append(kind)
        colors.append(np.stack([first, second]))
    # Keep objects by visible area; dropping one can only enlarge the others' visible parts, so one pass suffices.
    threshold = max(min_visible_pixels, min_visible_fraction * height * width)
    areas = np.bincount(_visible_ids(shapes, range(len(shapes))).ravel(), minlength=len(shapes) + 1)
    kept = [i for i in range(len(shapes)) if areas[i + 1] >= threshold]
    if not kept:  # the largest shape stands alone
        kept = [int(np.argmax([s.sum() for s in shapes]))]
    ids = _visible_ids(shapes, kept)
    image = background.copy()
    masks = []
    for order, index in enumerate(kept):
        mask = ids == order + 1
        image[mask] = _fill(rng, colors[index], mask)
        masks.append(mask)
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return Scene(image=pixels, masks=masks, kinds=[kinds[i] for i in kept], colors=[colors[i] for i in kept])


def _visible_ids(shapes: list[np.ndarray], order: Sequence[int] | range) -> np.ndarray:
    """(H, W) int32: k + 1 where the k-th shape of ``order`` is the front-most one, 0 elsewhere."""
    ids = np.zeros(shapes[0].shape, dtype=np.int32)
    for position, index in enumerate(order):
        ids[shapes[index]] = position + 1
    return ids


def most_interior_point(mask: np.ndarray) -> tuple[int, int]:
    """The (x, y) pixel of ``mask`` farthest from its boundary (the image border counts as boundary).

    Ties go to the first pixel in row-major order. Uses scipy's exact Euclidean distance transform.

    Args:
        mask: (H, W) boolean mask with at least one True pixel.
    """
    from scipy.ndimage import distance_transform_edt

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("most_interior_point needs a non-empty mask")
    distance = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), mask.shape)
    return int(x), int(y)


class SyntheticSceneDataset:
    """Random-access, reproducible scenes: item ``i`` is ``make_scene(default_rng([seed, i]), **scene_kwargs)``.

    Args:
        seed: the stream; different seeds give independent scenes.
        length: number of items for ``len`` / iteration (None: iterate forever).
        **scene_kwargs: passed to ``make_scene`` (``difficulty`` can be overridden per item).
    """

    def __init__(self, seed: int, length: int | None = None, **scene_kwargs: Any) -> None:
        self.seed = int(seed)
        self.length = length
        self.scene_kwargs = scene_kwargs

    def scene(self, index: int, **overrides: Any) -> Scene:
        """The ``index``-th scene, with ``make_scene`` arguments optionally overridden."""
        return make_scene(np.random.default_rng([self.seed, int(index)]), **{**self.scene_kwargs, **overrides})

    def __getitem__(self, index: int) -> Scene:
        if self.length is not None and not 0 <= index < self.length:
            raise IndexError(f"scene index {index} out of range({self.length})")
        return self.scene(index)

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("an endless SyntheticSceneDataset has no length")
        return self.length

    def __iter__(self) -> Iterator[Scene]:
        index = 0
        while self.length is None or index < self.length:
            yield self.scene(index)
            index += 1
