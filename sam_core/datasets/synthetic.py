"""The seeded synthetic scene generator (``sam_core.synthetic``) as a training dataset.

Item ``i`` of ``SyntheticInstances(seed, count)`` is scene ``i`` of ``SyntheticSceneDataset(seed)``, that is
``make_scene(np.random.default_rng([seed, i]))``: the same seed gives the same items, in any order of access. The
category of an instance is its shape kind, ``SHAPE_KINDS.index(kind) + 1`` (names in ``CATEGORY_NAMES``).

Shape legend: H x W image size, O objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..synthetic import SHAPE_KINDS, SyntheticSceneDataset
from .base import DatasetItem, check_index

#: category id -> shape kind.
CATEGORY_NAMES = {index + 1: kind for index, kind in enumerate(SHAPE_KINDS)}


class SyntheticInstances:
    """``count`` reproducible synthetic scenes as DatasetItems.

    Args:
        seed: the scene stream (different seeds give independent scenes).
        count: number of items.
        **scene_kwargs: passed to ``make_scene`` (``difficulty``, ``long_side``, ...).
    """

    def __init__(self, seed: int, count: int, **scene_kwargs: Any) -> None:
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        self.seed = int(seed)
        self.count = int(count)
        self.scenes = SyntheticSceneDataset(self.seed, self.count, **scene_kwargs)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> DatasetItem:
        """Item ``index``: the scene's (H, W, 3) image and (O, H, W) visible masks."""
        index = check_index(index, self.count)
        scene = self.scenes.scene(index)
        masks = np.stack(scene.masks).astype(bool)
        categories = np.array([SHAPE_KINDS.index(kind) + 1 for kind in scene.kinds], dtype=np.int64)
        return DatasetItem(image=scene.image, masks=masks, category_ids=categories, key=f"{self.seed}:{index}")
