"""Per-object IoU of the default model on held-out scenes, grouped by one property at a time (visible area in
the model's frame, pieces of the visible mask, objects in the scene): where the model misses.

    python scripts/default_model_breakdown.py [--seed 20261124] [--scenes 200] [--backend torch]

Prints a Markdown table (the one in sam_core/data/default_model/TRAINING.md).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import ndimage

from dualsam import models as model_loading
from sam_core.evaluation import evaluate_model
from sam_core.synthetic import SyntheticSceneDataset

AREA_EDGES = (300, 3000)  # visible pixels in the model's (long side 256) frame


def object_properties(scenes: list, frame: int) -> dict[str, np.ndarray]:
    """Per object, in scene order: visible area in the model's frame, pieces of its mask, objects in its scene."""
    area, pieces, crowd = [], [], []
    for scene in scenes:
        scale = (frame / max(scene.image.shape[:2])) ** 2
        for mask in scene.masks:
            area.append(mask.sum() * scale)
            pieces.append(ndimage.label(mask)[1])
            crowd.append(len(scene.masks))
    return {"area": np.array(area), "pieces": np.array(pieces), "crowd": np.array(crowd)}


def groups(props: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """(label, boolean selection) rows of the table."""
    low, high = AREA_EDGES
    area, pieces, crowd = props["area"], props["pieces"], props["crowd"]
    rows = [
        (f"visible area < {low} px in the 256-px frame", area < low),
        (f"{low} to {high} px", (area >= low) & (area < high)),
        (f">= {high} px", area >= high),
        ("visible mask in 1 piece", pieces == 1),
        ("in 2 pieces (cut by an occluder)", pieces == 2),
        ("in 3 or more pieces", pieces >= 3),
    ]
    rows += [(f"scenes of {n} object{'s' if n > 1 else ''}", crowd == n) for n in (1, crowd.max())]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=20_261_124, help="held-out scene seed")
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--backend", default="torch", choices=model_loading.BACKENDS)
    args = parser.parse_args(argv)
    loaded = model_loading.load_model(None, args.backend)
    scenes = list(SyntheticSceneDataset(args.seed, length=args.scenes))
    result = evaluate_model(loaded.model, scenes)
    frame = loaded.model.config.vision_config.image_size
    print("| group | objects | point mIoU | box mIoU |\n|---|---|---|---|")
    for label, chosen in groups(object_properties(scenes, frame)):
        if chosen.any():
            print(f"| {label} | {chosen.sum()} | {result.point_ious[chosen].mean():.2f} | "
                  f"{result.box_ious[chosen].mean():.2f} |")  # fmt: skip
    print(f"| all | {result.num_objects} | {result.point_miou:.3f} | {result.box_miou:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
