"""Draws the example image shipped with the package (sam_core/data/example.png) and its prompt file.

The image is one scene of dualsam's own synthetic generator; example.json records how it was drawn, the point
that ``dualsam segment`` uses when no image and no prompt are given, and each object's tight box and most
interior point. Run from the repository root:

    python scripts/make_example_image.py
"""

from __future__ import annotations

import sys

import numpy as np

from dualsam.cli_common import write_png
from dualsam.resources import EXAMPLE_IMAGE, EXAMPLE_PROMPTS
from sam_core.atomic import write_json
from sam_core.synthetic import make_scene, most_interior_point

SEED = (2026, 25)
SCENE = dict(long_side=(640, 640), aspect=(0.7, 0.75), difficulty=0.7)
DEFAULT_OBJECT = 3  # the ellipse on the right


def main() -> int:
    scene = make_scene(np.random.default_rng(list(SEED)), **SCENE)
    objects = []
    for kind, mask in zip(scene.kinds, scene.masks):
        ys, xs = np.nonzero(mask)
        objects.append({"kind": kind, "box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
                        "interior_point": list(most_interior_point(mask)), "area": int(mask.sum())})  # fmt: skip
    prompts = {
        "scene": {"seed": list(SEED), **{k: list(v) if isinstance(v, tuple) else v for k, v in SCENE.items()}},
        "point": objects[DEFAULT_OBJECT]["interior_point"],
        "objects": objects,
    }
    write_png(scene.image, str(EXAMPLE_IMAGE))
    write_json(EXAMPLE_PROMPTS, prompts)
    print(f"wrote {EXAMPLE_IMAGE} ({scene.image.shape[1]}x{scene.image.shape[0]}, {len(objects)} objects)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
