"""``dualsam segment IMAGE``: prompt SAM with points and/or a box and write the masks.

Outputs in --out (default ./IMAGE_STEM_segment): ``mask_K.png`` (binary masks at the image size, 0/255, in the
model's output order), ``overlay.png`` (masks coloured over the image with the prompt markers) and ``result.json``
(scores, areas, boxes, prompts, model, backend, timings). Each file is written atomically; stale ``mask_K.png``
files of an earlier run with more masks are removed. Importing this module imports no framework.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time

import numpy as np

from sam_core.atomic import write_json

from .cli_common import (
    EXIT_OK,
    CliError,
    Timings,
    add_image_argument,
    add_model_arguments,
    add_out_argument,
    example_point,
    image_path,
    load_image,
    load_model_or_exit,
    output_dir,
    output_path,
    version,
    write_png,
)  # fmt: skip
from .cli_dataset import add_dataset_arguments, is_dataset_run, run_dataset_command

DESCRIPTION = (
    "Segment an image from point and/or box prompts (pixel coordinates of the image). Writes mask_K.png, "
    "overlay.png and result.json into --out. Without IMAGE the shipped example image is used, and without a "
    "prompt too, the example's default point. Several images, directories, globs, --prompts FILE.jsonl or "
    "--boxes-from COCO.json make a dataset run: annotations.json (COCO, RLE masks) and errors.jsonl in --out, "
    "resumable; exit 3 when some images failed."
)
MASK_NAME = "mask_{}.png"
_MASK_FILE = re.compile(r"^mask_(\d+)\.png$")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The segment arguments."""
    add_image_argument(parser)
    parser.add_argument(
        "--point", metavar="X,Y[,LABEL]", action="append", default=[],
        help="a point prompt in pixels; LABEL 1 foreground (default) or 0 background; repeatable",
    )  # fmt: skip
    parser.add_argument("--box", metavar="X1,Y1,X2,Y2", help="a box prompt in pixels (top-left, bottom-right)")
    parser.add_argument("--multimask", action="store_true", help="return SAM's three masks instead of one")
    add_model_arguments(parser)
    add_out_argument(parser, "segment")
    add_dataset_arguments(parser, "segment")
    return parser


def _numbers(text: str, option: str, counts: tuple[int, ...], form: str) -> list[float]:
    parts = text.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(parts) not in counts or len(values) != len(parts) or not all(math.isfinite(v) for v in values):
        raise CliError(f"{option} {text!r} is malformed: expected {form} with finite numbers")
    return values


def parse_point(text: str) -> tuple[float, float, int]:
    """``X,Y`` or ``X,Y,LABEL`` -> (x, y, label); LABEL must be 1 or 0."""
    values = _numbers(text, "--point", (2, 3), "X,Y or X,Y,LABEL")
    label = values[2] if len(values) == 3 else 1.0
    if label not in (0.0, 1.0):
        raise CliError(f"--point {text!r}: LABEL must be 1 (foreground) or 0 (background)")
    return values[0], values[1], int(label)


def parse_box(text: str) -> list[float]:
    """``X1,Y1,X2,Y2`` with X1 < X2 and Y1 < Y2."""
    box = _numbers(text, "--box", (4,), "X1,Y1,X2,Y2")
    if not (box[0] < box[2] and box[1] < box[3]):
        raise CliError(f"--box {text!r}: expected X1 < X2 and Y1 < Y2 (top-left, then bottom-right corner)")
    return box


def _remove_stale_masks(directory: str, count: int, image_path: str) -> None:
    for name in os.listdir(directory):
        match = _MASK_FILE.match(name)
        path = os.path.join(directory, name)
        if match and int(match.group(1)) >= count and not os.path.samefile(path, image_path):
            os.remove(path)


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam segment``; returns the exit code (bad input raises CliError)."""
    from sam_core.predictor import SamPredictor

    from .overlay import render_overlay
    from .segment import check_prompts, segment_image

    start = time.perf_counter()
    parsed = [parse_point(p) for p in args.point]
    box = parse_box(args.box) if args.box is not None else None
    if is_dataset_run(args):
        points = [list(p[:2]) for p in parsed] or None
        labels = [p[2] for p in parsed] if parsed else None
        prompts = dict(points=points, labels=labels, box=box) if (parsed or box is not None) else {}
        return run_dataset_command(args, "segment", {**prompts, "multimask": args.multimask})
    if not args.image and not parsed and box is None:
        parsed = [example_point()]
    args.image = image_path(args)
    if not parsed and box is None:
        raise CliError("give at least one prompt: --point X,Y[,LABEL] and/or --box X1,Y1,X2,Y2")
    points = np.array([p[:2] for p in parsed], dtype=np.float64).reshape(-1, 2)
    labels = np.array([p[2] for p in parsed], dtype=np.int64)
    image = load_image(args.image)
    try:
        check_prompts(points, labels, box, image.shape[:2])
    except ValueError as error:
        raise CliError(str(error).replace("points: ", "--point ").replace("box: ", "--box ")) from error
    directory = output_dir(args.out, args.image, "segment")
    overlay_path, result_path = (output_path(directory, n, args.image) for n in ("overlay.png", "result.json"))
    timings = Timings()
    loaded = load_model_or_exit(args, timings)
    predictor = SamPredictor(loaded.model)
    with timings.stage("set_image"):
        predictor.set_image(image)
    with timings.stage("predict"):
        result = segment_image(predictor, points=points, labels=labels, box=box, multimask=args.multimask)
    with timings.stage("write"):
        names = [MASK_NAME.format(k) for k in range(len(result.masks))]
        mask_paths = [output_path(directory, name, args.image) for name in names]
        os.makedirs(directory, exist_ok=True)
        for mask, path in zip(result.masks, mask_paths):
            write_png(np.multiply(mask, 255, dtype=np.uint8), path)  # one uint8 copy, not two
        _remove_stale_masks(directory, len(result.masks), args.image)
        write_png(render_overlay(image, list(result.masks), points, labels, box), overlay_path)
    timings["total_s"] = round(time.perf_counter() - start, 3)
    summary = result.summary()
    report = {
        "image": {"path": os.path.abspath(args.image), "width": int(image.shape[1]), "height": int(image.shape[0])},
        "model": loaded.describe(),
        "backend": loaded.backend,
        "prompts": summary["prompts"],
        "multimask": bool(args.multimask),
        "mask_files": names,
        "scores": summary["scores"],
        "areas": summary["areas"],
        "boxes": summary["boxes"],
        "best": summary["best"],
        "timings": dict(timings),
        "dualsam_version": version(),
    }
    write_json(result_path, report)
    shown = ", ".join(f"{s:.3f}" for s in result.scores)
    print(f"wrote {directory}: {', '.join(names)} (scores {shown}), overlay.png, result.json", file=sys.stdout)
    return EXIT_OK
