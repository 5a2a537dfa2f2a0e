"""``dualsam evaluate --data COCO.json|DIR``: a model's point and box mIoU on your data (``dualsam.evaluate``).

Prints the overall and per-category mIoU; ``--out FILE.json`` also writes the report (atomically). Importing this
module imports no framework.
"""

from __future__ import annotations

import argparse
import sys

from sam_core.atomic import write_json

from .cli_common import EXIT_OK, CliError
from .cli_finetune import add_data_arguments, option_names

DESCRIPTION = (
    "Evaluate a model on your data: point mIoU (one point at each object's most interior pixel, best of 3 masks) "
    "and box mIoU (its tight box), overall and per category. --data takes a COCO instances .json or a folder of "
    "images/ plus masks/NAME/K.png or instances/NAME.png."
)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The evaluate arguments."""
    add_data_arguments(parser, "the items to evaluate on")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate the first N items only")
    parser.add_argument("--out", metavar="FILE.json", help="also write the report here")
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam evaluate``; returns the exit code (bad input raises CliError)."""
    from .evaluate import evaluate
    from .models import ModelError

    if args.config is not None:
        raise CliError("--config does not apply to evaluate: give a model directory with its config.json")
    try:
        report = evaluate(args.data, images=args.images, model=args.model, backend=args.backend, limit=args.limit,
                          dtype=args.dtype)  # fmt: skip
    except (ValueError, FileNotFoundError, ModelError) as error:
        raise CliError(option_names(str(error))) from error
    if args.out:
        write_json(args.out, report)
    print(f"{report['items']} items, {report['objects']} objects: point mIoU {report['point_miou']:.3f}, "
          f"box mIoU {report['box_miou']:.3f}", file=sys.stdout)  # fmt: skip
    for key, values in report["per_category"].items():
        label = f"{key} ({values['name']})" if "name" in values else key
        print(f"  category {label}: {values['objects']} objects, point mIoU {values['point_miou']:.3f}, "
              f"box mIoU {values['box_miou']:.3f}", file=sys.stdout)  # fmt: skip
    return EXIT_OK
