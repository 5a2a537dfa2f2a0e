"""``dualsam generate IMAGE``: segment everything with SamAutomaticMaskGenerator.

Outputs in --out (default ./IMAGE_STEM_generate): ``masks.json`` (Meta's amg records, one per mask, with COCO RLE
``segmentation``; decode with ``pycocotools.mask.decode``) and ``overlay.png`` (every mask coloured over the image,
largest first). A progress bar over point batches shows on a terminal (--no-progress / --progress override).
Importing this module imports no framework.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator

import numpy as np

from .cli_common import (
    EXIT_OK, CliError, Timings, add_image_argument, add_model_arguments, add_out_argument, image_path, load_image,
    load_model_or_exit, output_dir, output_path, write_json, write_png,
)  # fmt: skip

DESCRIPTION = (
    "Segment everything in an image by prompting SAM with a grid of points (Meta's automatic mask generator). "
    "Writes masks.json (COCO RLE records) and overlay.png into --out."
)

#: (flag, SamAutomaticMaskGenerator argument, type, default, help); defaults are Meta's.
AMG_OPTIONS: tuple[tuple[str, str, type, object, str], ...] = (
    ("--points-per-side", "points_per_side", int, 32, "grid points along each image side"),
    ("--points-per-batch", "points_per_batch", int, 64, "points decoded together (memory vs speed)"),
    ("--pred-iou-thresh", "pred_iou_thresh", float, 0.88, "keep masks whose predicted IoU is above this"),
    ("--stability-score-thresh", "stability_score_thresh", float, 0.95, "keep masks at least this stable"),
    ("--stability-score-offset", "stability_score_offset", float, 1.0, "logit offset of the stability score"),
    ("--box-nms-thresh", "box_nms_thresh", float, 0.7, "box IoU threshold of the NMS within a crop"),
    ("--crop-n-layers", "crop_n_layers", int, 0, "layers of image crops (layer i has (2**i)**2 crops)"),
    ("--crop-nms-thresh", "crop_nms_thresh", float, 0.7, "box IoU threshold of the NMS across crops"),
    ("--crop-overlap-ratio", "crop_overlap_ratio", float, 512 / 1500, "crop overlap, fraction of the shorter side"),
    ("--crop-n-points-downscale-factor", "crop_n_points_downscale_factor", int, 1, "grid downscale per crop layer"),
    ("--min-mask-region-area", "min_mask_region_area", int, 0, "remove holes and islands smaller than this (px)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The generate arguments."""
    add_image_argument(parser)
    amg = parser.add_argument_group("automatic mask generator (Meta's defaults)")
    for flag, dest, kind, default, text in AMG_OPTIONS:
        shown = f"{default:.4g}" if isinstance(default, float) else default
        metavar = "N" if kind is int else "X"
        amg.add_argument(flag, dest=dest, type=kind, default=default, metavar=metavar, help=f"{text} (default {shown})")
    add_model_arguments(parser)
    add_out_argument(parser, "generate")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show progress")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
    return parser


def generator_options(args: argparse.Namespace) -> dict:
    """SamAutomaticMaskGenerator keyword arguments from the parsed flags."""
    return {dest: getattr(args, dest) for _, dest, _, _, _ in AMG_OPTIONS}


def _decoded_by_area(records: list[dict]) -> Iterator[np.ndarray]:
    """The records' masks, largest first, decoded one at a time."""
    from .amg.rle import coco_rle_to_mask

    for record in sorted(records, key=lambda r: -r["area"]):
        yield coco_rle_to_mask(record["segmentation"])


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam generate``; returns the exit code (bad input raises CliError)."""
    from .mask_generator import SamAutomaticMaskGenerator
    from .overlay import blend_masks, mask_colors

    start = time.perf_counter()
    options = generator_options(args)
    args.image = image_path(args)
    image = load_image(args.image)
    directory = output_dir(args.out, args.image, "generate")
    masks_path, overlay_path = (output_path(directory, n, args.image) for n in ("masks.json", "overlay.png"))
    timings = Timings()
    loaded = load_model_or_exit(args, timings)
    try:
        generator = SamAutomaticMaskGenerator(loaded.model, output_mode="coco_rle", progress=args.progress, **options)
    except (ValueError, TypeError, ImportError) as error:
        raise CliError(str(error)) from error
    with timings.stage("generate"):
        records = generator.generate(image)
    with timings.stage("write"):
        os.makedirs(directory, exist_ok=True)
        write_json(records, masks_path)
        write_png(blend_masks(image, _decoded_by_area(records), mask_colors(len(records))), overlay_path)
    total = round(time.perf_counter() - start, 3)
    stages = ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in timings.items())
    noun = "mask" if len(records) == 1 else "masks"
    print(f"wrote {directory}: {len(records)} {noun} in masks.json, overlay.png ({stages}, total {total:.1f}s)")
    if not records:
        print("note: no mask passed the thresholds; try lower --pred-iou-thresh / --stability-score-thresh",
              file=sys.stderr)  # fmt: skip
    return EXIT_OK
