"""The fine-tuning demonstration's dataset: rings, crosses and bars painted in two-colour stripes or checks over
smooth colour backgrounds, objects the default model has never seen, and writers of any dataset into the folder
layout (``images/`` + ``masks/NAME/K.png``) or a COCO file with RLE masks.

The default model was trained on filled ellipses, rectangles, triangles and star polygons in solid colours or
gradients, over backgrounds that include stripes and checkerboards: to it, a patterned object looks like background
texture, and a click on one finds a stripe or a check, not the object. The patterns' period (PATTERN_PERIOD, in
pixels) is what makes that so; with finer patterns the default model already does much better.

Item ``i`` of ``DemoShapes(seed, count)`` is ``make_demo_item(np.random.default_rng([seed, i]))``: reproducible in
any order of access. Categories: 1 ring, 2 cross, 3 bar (``DEMO_CATEGORIES``). Objects may overlap; each mask is the
object's visible part (later objects in front), and objects left with too little visible area are dropped.

Shape legend: H x W image size, O objects.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw

from ..atomic import atomic_path, write_json
from .base import DatasetItem, TrainingDataset, check_index

#: category id -> name.
DEMO_CATEGORIES = {1: "ring", 2: "cross", 3: "bar"}
MIN_VISIBLE_PIXELS = 80
#: Range of the objects' stripe / check period in pixels (two stripes or two checks a period).
PATTERN_PERIOD = (10.0, 20.0)
#: The least difference of a pattern's two colours in some channel (0-255).
PATTERN_CONTRAST = 90.0


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32: smooth colour noise (a few random colours, bicubically enlarged) with pixel noise."""
    low = rng.uniform(0, 255, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3)).astype(np.uint8)
    image = np.asarray(PIL.Image.fromarray(low).resize((width, height), PIL.Image.Resampling.BICUBIC), np.float32)
    return image + rng.normal(0, 4, size=image.shape)


def _pattern(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W) bool: stripes or a checkerboard at a random angle, its period drawn from PATTERN_PERIOD."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(*PATTERN_PERIOD)
    along = np.floor((xx * np.cos(angle) + yy * np.sin(angle)) / (period / 2))
    if rng.random() < 0.5:
        return (along % 2).astype(bool)
    across = np.floor((yy * np.cos(angle) - xx * np.sin(angle)) / (period / 2))
    return ((along + across) % 2).astype(bool)


def _pattern_colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two RGB colours that differ by at least PATTERN_CONTRAST in some channel."""
    first = rng.uniform(0, 255, 3)
    while True:
        second = rng.uniform(0, 255, 3)
        if np.abs(first - second).max() >= PATTERN_CONTRAST:
            return first, second


def _rotated_rect(center: np.ndarray, length: float, width: float, angle: float) -> list[tuple[float, float]]:
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    corners = [center + sa * length / 2 * along + sb * width / 2 * across for sa, sb in ((-1, -1), (1, -1), (1, 1),
                                                                                             (-1, 1))]  # fmt: skip
    return [(float(x), float(y)) for x, y in corners]


def _shape(rng: np.random.Generator, category: int, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of one object of ``category`` at a random place, size and angle."""
    short = min(height, width)
    center = np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height])
    if category == 1:  # ring: an annulus, its band 35-55% of the outer radius
        outer = rng.uniform(0.15, 0.3) * short
        yy, xx = np.ogrid[0:height, 0:width]
        distance = np.hypot(xx - center[0], yy - center[1])
        return (distance <= outer) & (distance >= outer * (1 - rng.uniform(0.35, 0.55)))
    canvas = PIL.Image.new("L", (width, height), 0)
    draw = PIL.ImageDraw.Draw(canvas)
    angle = rng.uniform(0, np.pi)
    length, thickness = rng.uniform(0.35, 0.65) * short, rng.uniform(0.1, 0.16) * short
    draw.polygon(_rotated_rect(center, length, thickness, angle), fill=1)
    if category == 2:  # cross: a second bar at right angles
        draw.polygon(_rotated_rect(center, length, thickness, angle + np.pi / 2), fill=1)
    return np.asarray(canvas, dtype=bool)


def make_demo_item(rng: np.random.Generator, key: str = "", long_side: tuple[int, int] = (160, 256)) -> DatasetItem:
    """One image with 1 to 3 objects (each a ring, a cross or a bar in its own two-colour pattern)."""
    side = int(rng.integers(long_side[0], long_side[1] + 1))
    short = int(side * rng.uniform(0.6, 1.0))
    height, width = (side, short) if rng.random() < 0.5 else (short, side)
    image = _background(rng, height, width)
    ids = np.zeros((height, width), dtype=np.int64)
    categories = []
    for index in range(int(rng.integers(1, 4))):
        category = int(rng.integers(1, len(DEMO_CATEGORIES) + 1))
        mask = _shape(rng, category, height, width)
        first, second = _pattern_colors(rng)
        fill = np.where(_pattern(rng, height, width)[..., None], first, second)
        image[mask] = fill[mask] + rng.normal(0, 5, size=(int(mask.sum()), 3))
        ids[mask] = index + 1
        categories.append(category)
    visible = [(ids == i + 1, c) for i, c in enumerate(categories) if (ids == i + 1).sum() >= MIN_VISIBLE_PIXELS]
    masks = np.stack([m for m, _ in visible]) if visible else np.zeros((0, height, width), dtype=bool)
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return DatasetItem(pixels, masks, [c for _, c in visible], key)


class DemoShapes:
    """``count`` reproducible demo images as DatasetItems (see the module docstring).

    Args:
        seed: the image stream (different seeds give independent images).
        count: number of items.
        long_side: (lo, hi) pixel range of the longer image side.
    """

    #: category id -> name.
    categories = DEMO_CATEGORIES

    def __init__(self, seed: int, count: int, long_side: tuple[int, int] = (160, 256)) -> None:
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        self.seed, self.count, self.long_side = int(seed), int(count), (int(long_side[0]), int(long_side[1]))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> DatasetItem:
        index = check_index(index, self.count)
        rng = np.random.default_rng([self.seed, index])
        return make_demo_item(rng, key=f"{self.seed}_{index:05d}", long_side=self.long_side)


def write_masks_folder(dataset: TrainingDataset, root: str | os.PathLike[str]) -> Path:
    """Writes ``dataset`` in the folder layout ``masks`` (``sam_core.datasets.folder``): ROOT/images/KEY.png and
    ROOT/masks/KEY/K.png (0/255, one per instance); each file atomically. Returns ROOT.

    Items need distinct keys that are valid file names; categories are not stored (the layout has none).
    """
    root = Path(root)
    for index in range(len(dataset)):
        item = dataset[index]
        name = item.key or f"{index:05d}"
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks" / name).mkdir(parents=True, exist_ok=True)
        _write_png(item.image, root / "images" / f"{name}.png")
        for k, mask in enumerate(item.masks):
            _write_png(np.where(mask, 255, 0).astype(np.uint8), root / "masks" / name / f"{k}.png")
    return root


def write_coco(
    dataset: TrainingDataset, root: str | os.PathLike[str], categories: dict[int, str] | None = None
) -> Path:
    """Writes ``dataset`` as ROOT/images/KEY.png and ROOT/annotations.json (COCO instances, compressed RLE
    masks, the items' category ids; ``categories`` names them, default ``DEMO_CATEGORIES``). Returns the json path.
    """
    from pycocotools import mask as mask_utils

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    names = DEMO_CATEGORIES if categories is None else categories
    images, annotations = [], []
    for index in range(len(dataset)):
        item = dataset[index]
        file_name = f"images/{item.key or f'{index:05d}'}.png"  # relative to the json's folder
        _write_png(item.image, root / file_name)
        height, width = item.image.shape[:2]
        images.append({"id": index + 1, "file_name": file_name, "height": height, "width": width})
        for mask, category in zip(item.masks, item.category_ids):
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            annotations.append({
                "id": len(annotations) + 1, "image_id": index + 1, "category_id": int(category), "iscrowd": 0,
                "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
                "area": float(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
            })  # fmt: skip
    categories_list = [{"id": i, "name": n} for i, n in sorted(names.items())]
    path = root / "annotations.json"
    write_json(path, {"images": images, "annotations": annotations, "categories": categories_list})
    return path


def _write_png(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as temporary:
        PIL.Image.fromarray(array).save(temporary, format="PNG")
