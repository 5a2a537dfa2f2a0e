"""``dualsam finetune --data COCO.json|DIR --out DIR``: fine-tune a model on your own data (``dualsam.finetune``).

Writes into --out: model/ (a save_pretrained directory: ``dualsam segment --model OUT/model``), checkpoint/ (for
--resume), train_log.jsonl and report.json (held-out point and box mIoU before and after, per category). Prints the
before / after summary. Importing this module imports no framework.
"""

from __future__ import annotations

import argparse
import sys

from .cli_common import EXIT_OK, CliError, add_model_arguments

DESCRIPTION = (
    "Fine-tune a SAM model on your own data: a COCO instances .json (with --images, the folder its file names are "
    "relative to) or a folder of images/ plus masks/NAME/K.png or instances/NAME.png. Holds out --val-split of the "
    "items and reports their point and box mIoU before and after. OUT/model then works as --model anywhere."
)


def add_data_arguments(parser: argparse.ArgumentParser, data_help: str) -> None:
    """--data, --images and the model options (--model, --config, --backend), shared with ``dualsam evaluate``."""
    parser.add_argument("--data", required=True, metavar="COCO.json|DIR", help=data_help)
    parser.add_argument("--images", metavar="DIR", help="COCO only: the folder image file names are relative to")
    add_model_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The finetune arguments."""
    add_data_arguments(parser, "the training data")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, metavar="N", help="optimizer steps")
    length.add_argument("--epochs", type=float, metavar="N", help="passes over the training items (default: 10)")
    parser.add_argument("--val-split", type=float, default=0.1, metavar="F",
                        help="share of the items held out for evaluation (default: 0.1; 0: none)")  # fmt: skip
    parser.add_argument("--out", required=True, metavar="DIR", help="run directory (model/, checkpoint/, logs)")
    parser.add_argument("--freeze", default="", metavar="PARTS",
                        help="comma-separated parts to keep fixed: image_encoder, prompt_encoder")  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--batch-size", type=int, metavar="N", help="images per step (default: 4)")
    parser.add_argument("--lr", type=float, metavar="LR", help="peak learning rate (default: 3e-4)")
    parser.add_argument("--seed", type=int, default=0, help="split, data order and prompts (default: 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _miou_line(name: str, evaluation: dict | None) -> str:
    if evaluation is None:
        return f"{name}: no held-out items (--val-split 0)"
    return f"{name}: point mIoU {evaluation['point_miou']:.3f}, box mIoU {evaluation['box_miou']:.3f}"


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam finetune``; returns the exit code (bad input raises CliError)."""
    from .finetune import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LR, finetune
    from .models import ModelError, resolve_backend

    if args.config is not None:
        raise CliError("--config does not apply to finetune: give a model directory with its config.json")
    freeze = tuple(part.strip() for part in args.freeze.split(",") if part.strip())
    epochs = DEFAULT_EPOCHS if args.steps is None and args.epochs is None else args.epochs
    try:
        report = finetune(
            args.data, images=args.images, model=args.model, backend=resolve_backend(args.backend),
            steps=args.steps, epochs=epochs, val_split=args.val_split, out=args.out, freeze=freeze,
            resume=args.resume, seed=args.seed,
            batch_size=DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size,
            lr=DEFAULT_LR if args.lr is None else args.lr, progress=not args.no_progress, dtype=args.dtype,
        )  # fmt: skip
    except (ValueError, FileNotFoundError, ModelError) as error:
        raise CliError(option_names(str(error))) from error
    print(_miou_line("before", report.before), file=sys.stdout)
    print(_miou_line("after", report.after), file=sys.stdout)
    print(f"wrote {report.model_dir} ({report.steps} steps, {report.wall_s:.0f} s) and {report.report_path}")
    return EXIT_OK


def option_names(message: str) -> str:
    """The use case's argument names as the command's options (``val_split: ...`` -> ``--val-split ...``)."""
    for name, option in OPTION_NAMES.items():
        if message.startswith(f"{name}:") or message.startswith(f"{name} "):
            return option + message[len(name) :]
    return message


#: use-case argument names in error messages -> the options that set them.
OPTION_NAMES = {
    "val_fraction": "--val-split", "out": "--out", "freeze": "--freeze", "resume": "--resume", "steps": "--steps",
    "epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "data": "--data", "backend": "--backend",
    "limit": "--limit", "dtype": "--dtype",
}  # fmt: skip
