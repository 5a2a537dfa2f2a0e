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

from sam_core.amg.rle_columns import ColumnRle
from sam_core.atomic import write_json

from .cli_common import (
    EXIT_OK,
    CliError,
    Timings,
    add_image_argument,
    add_model_arguments,
    add_out_argument,
    image_path,
    load_image,
    load_model_or_exit,
    output_dir,
    output_path,
    write_png,
)  # fmt: skip
from .cli_dataset import add_dataset_arguments, is_dataset_run, run_dataset_command
from .generate import AMG_DEFAULTS, generate_masks

DESCRIPTION = (
    "Segment everything in an image by prompting SAM with a grid of points (Meta's automatic mask generator). "
    "Writes masks.json (COCO RLE records) and overlay.png into --out. Several images, directories or globs make a "
    "dataset run: annotations.json (COCO) and errors.jsonl in --out, resumable; exit 3 when some images failed."
)

#: (SamAutomaticMaskGenerator argument, help); the flag is the argument with dashes, the type and default come from
#: the generator's signature (``dualsam.generate.AMG_DEFAULTS``: Meta's defaults).
AMG_HELP: dict[str, str] = {
    "points_per_side": "grid points along each image side",
    "points_per_batch": "points decoded together (auto: as many as 64 MB of low-res logits hold)",
    "pred_iou_thresh": "keep masks whose predicted IoU is above this",
    "stability_score_thresh": "keep masks at least this stable",
    "stability_score_offset": "logit offset of the stability score",
    "box_nms_thresh": "box IoU threshold of the NMS within a crop",
    "crop_n_layers": "layers of image crops (layer i has (2**i)**2 crops)",
    "crop_nms_thresh": "box IoU threshold of the NMS across crops",
    "crop_overlap_ratio": "crop overlap, fraction of the shorter side",
    "crop_n_points_downscale_factor": "grid downscale per crop layer",
    "min_mask_region_area": "remove holes and islands smaller than this (px)",
}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The generate arguments."""
    add_image_argument(parser)
    amg = parser.add_argument_group("automatic mask generator (Meta's defaults)")
    for dest, text in AMG_HELP.items():
        default = AMG_DEFAULTS[dest]
        kind = float if isinstance(default, float) else int
        shown = "auto" if default is None else f"{default:.4g}" if kind is float else default
        flag = "--" + dest.replace("_", "-")
        metavar = "N" if kind is int else "X"
        amg.add_argument(flag, dest=dest, type=kind, default=default, metavar=metavar, help=f"{text} (default {shown})")
    add_model_arguments(parser)
    add_out_argument(parser, "generate")
    add_dataset_arguments(parser, "generate")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show progress")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
    return parser


def generator_options(args: argparse.Namespace) -> dict:
    """SamAutomaticMaskGenerator keyword arguments from the parsed flags."""
    return {dest: getattr(args, dest) for dest in AMG_HELP}


def _masks_by_area(records: list[dict]) -> list[ColumnRle]:
    """The records' masks, largest first, as run lengths (the overlay decodes them a band of columns at a time)."""
    return [ColumnRle(record["segmentation"]) for record in sorted(records, key=lambda r: -r["area"])]


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam generate``; returns the exit code (bad input raises CliError)."""
    from .overlay import blend_image, mask_colors

    start = time.perf_counter()
    options = generator_options(args)
    if is_dataset_run(args):
        return run_dataset_command(args, "generate", options)
    args.image = image_path(args)
    image = load_image(args.image)
    directory = output_dir(args.out, args.image, "generate")
    masks_path, overlay_path = (output_path(directory, n, args.image) for n in ("masks.json", "overlay.png"))
    timings = Timings()
    loaded = load_model_or_exit(args, timings)
    with timings.stage("generate"):
        try:
            records = generate_masks(loaded.model, image, progress=args.progress, **options)
        except (ValueError, TypeError, ImportError) as error:
            raise CliError(str(error)) from error
    with timings.stage("write"):
        os.makedirs(directory, exist_ok=True)
        write_json(masks_path, records)
        write_png(blend_image(image, _masks_by_area(records), mask_colors(len(records))), overlay_path)
    total = round(time.perf_counter() - start, 3)
    stages = ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in timings.items())
    noun = "mask" if len(records) == 1 else "masks"
    print(f"wrote {directory}: {len(records)} {noun} in masks.json, overlay.png ({stages}, total {total:.1f}s)")
    if not records:
        print("note: no mask passed the thresholds; try lower --pred-iou-thresh / --stability-score-thresh",
              file=sys.stderr)  # fmt: skip
    return EXIT_OK
