"""Writes the fine-tuning demonstration's data: rings, crosses and bars in two-colour stripes or checks
(``sam_core.datasets.demo``), objects the default model has never seen, as a training part and a held-out part.

Example:
    python scripts/make_finetune_demo_data.py --out demo_data
    # -> demo_data/train/annotations.json + images/, demo_data/heldout/annotations.json + images/ (COCO, RLE masks)
    python scripts/make_finetune_demo_data.py --out demo_folders --layout folder   # images/ + masks/NAME/K.png

Everything is deterministic from --seed (the training part uses it, the held-out part seed + 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam_core.datasets.demo import DemoShapes, write_coco, write_masks_folder


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (train/ and heldout/ inside)")
    parser.add_argument("--train", type=int, default=400, help="training images (default: 400)")
    parser.add_argument("--heldout", type=int, default=40, help="held-out images (default: 40)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--layout", choices=("coco", "folder"), default="coco", help="COCO json or mask folders")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.train < 1 or args.heldout < 1:
        print("make_finetune_demo_data: --train and --heldout must be >= 1", file=sys.stderr)
        return 2
    for part, seed, count in (("train", args.seed, args.train), ("heldout", args.seed + 1, args.heldout)):
        root = Path(args.out) / part
        writer = write_coco if args.layout == "coco" else write_masks_folder
        written = writer(DemoShapes(seed, count), root)
        print(f"{part}: {count} images -> {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
