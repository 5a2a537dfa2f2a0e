"""Dataset runs of ``dualsam segment`` and ``dualsam generate``: several IMAGE arguments, directories, globs,
``--prompts`` or ``--boxes-from`` write one COCO dataset into ``--out`` (``dualsam.batch``).

Exit codes: 0 every image succeeded, 3 some failed (listed in errors.jsonl, after a one-line summary), 2 bad
arguments. Importing this module imports no framework.
"""

from __future__ import annotations

import argparse
import glob
import os
from typing import Any

from .cli_common import EXIT_OK, CliError

EXIT_SOME_FAILED = 3


def add_dataset_arguments(parser: argparse.ArgumentParser, mode: str) -> None:
    """--out gets a dataset; the prompt files (segment), the engine and its resources, progress."""
    group = parser.add_argument_group("datasets: several IMAGEs, directories or globs -> annotations.json in --out")
    if mode == "segment":
        group.add_argument("--prompts", metavar="FILE.jsonl",
                           help='one JSON line per image: {"image": path, "points": [[x, y], ...], "labels": [...], '
                                '"boxes": [[x1, y1, x2, y2], ...]} (pixels of the original image)')  # fmt: skip
        group.add_argument("--boxes-from", metavar="COCO.json",
                           help="every annotation's bbox becomes a box prompt; its category_id is kept")  # fmt: skip
        group.add_argument("--images-root", metavar="DIR",
                           help="where the relative image paths of --prompts / --boxes-from are "
                                "(default: the file's directory)")  # fmt: skip
    group.add_argument("--overlays", action="store_true", help="also write overlays/<image>.png")
    group.add_argument("--batch-size", type=int, default=1, metavar="N", help="images per encoder call (default 1)")
    group.add_argument("--engine", choices=("local", "ray"), default="local", help="run here, or on Ray (dualsam[ray])")
    group.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    group.add_argument("--workers", type=int, default=1, metavar="N", help="Ray actors, each loading the model once")
    group.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="C", help="Ray CPUs per actor")
    group.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G", help="Ray GPUs per actor")
    if mode == "segment":
        progress = parser.add_mutually_exclusive_group()
        progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                              help="always show progress")  # fmt: skip
        progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")


def is_dataset_run(args: argparse.Namespace) -> bool:
    """More than one IMAGE, a directory or glob, or a prompt file: a dataset run (else the single-image outputs)."""
    images = args.image or []
    if getattr(args, "prompts", None) or getattr(args, "boxes_from", None) or len(images) > 1:
        return True
    return bool(images) and (os.path.isdir(images[0]) or (not os.path.exists(images[0]) and glob.has_magic(images[0])))


def engine_options(args: argparse.Namespace) -> Any:
    from .batch import EngineOptions

    return EngineOptions(engine=args.engine, batch_size=args.batch_size, workers=args.workers, address=args.address,
                         cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                         progress=args.progress)  # fmt: skip


def run_dataset_command(args: argparse.Namespace, mode: str, options: dict[str, Any]) -> int:
    """Runs a dataset ``segment`` or ``generate``; prints one summary line; returns 0, or 3 when images failed.

    Args:
        args: the parsed arguments.
        mode: "segment" or "generate".
        options: for segment: points, labels, box, multimask; for generate: the generator's options.
    """
    from .batch import InputError, generate_dataset, segment_dataset

    if not args.out:
        raise CliError("a dataset run needs --out DIR (annotations.json, errors.jsonl and shards go there)")
    engine = engine_options(args)
    common = dict(out=args.out, model=args.model, backend=args.backend, config=args.config, engine=engine,
                  dtype=args.dtype)  # fmt: skip
    try:
        if mode == "segment":
            summary = segment_dataset(args.image, prompts=args.prompts, boxes_from=args.boxes_from,
                                      images_root=args.images_root, overlays=args.overlays, **options,
                                      **common)  # fmt: skip
        else:
            summary = generate_dataset(args.image, overlays=args.overlays, **options, **common)
    except (InputError, TypeError) as error:
        raise CliError(str(error)) from error
    resumed = f", {summary.skipped} done earlier" if summary.skipped else ""
    print(f"dualsam {mode}: {summary.images} images{resumed}: {summary.succeeded} ok, {summary.failed} failed "
          f"({summary.images_per_second:.2f} images/s) -> {summary.annotations}"
          + (f"; see {summary.errors}" if summary.failed else ""))  # fmt: skip
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK
