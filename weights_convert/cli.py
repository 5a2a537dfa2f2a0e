"""``dualsam convert`` / ``python -m weights_convert``: argument parsing and exit codes.

Exit codes: 0 ok, 1 --verify failed, 2 bad input (one line on stderr, no traceback).
This module imports no framework; the conversion modules are imported when a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from sam_core.frameworks import BackendMissingError

from .errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_VERIFY_FAILED, CheckpointError, VerifyError, one_line

DESCRIPTION = (
    "Convert SAM weights between Meta's segment-anything .pth, transformers PyTorch (safetensors / .bin, sharded) "
    "and TensorFlow (tf_model.h5) into a transformers-layout directory. The source kind is read from the content."
)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds the convert arguments to ``parser`` (shared by ``dualsam convert`` and ``python -m weights_convert``)."""
    parser.add_argument(
        "src", metavar="SRC", help="a Meta .pth, a .safetensors / .bin / .h5 file, or a model directory"
    )  # fmt: skip
    parser.add_argument("dst", metavar="DST", help="the output directory (must not exist unless --force)")
    parser.add_argument("--to", choices=("torch", "tf", "both"), default="both", help="weights to write (default both)")
    parser.add_argument(
        "--config", metavar="PRESET|config.json",
        help="architecture: a preset name or a config.json (default: the source's config.json, else the shapes)",
    )  # fmt: skip
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32", help="output dtype")
    parser.add_argument("--verify", action="store_true", help="compare source and converted models on a fixed probe")
    parser.add_argument("--force", action="store_true", help="replace an existing DST")
    parser.add_argument("--strict", action="store_true", help="NaN/inf weights are an error, not a warning")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show progress")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs one conversion from parsed arguments; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, if --verify loads it
    from .pipeline import ConvertOptions, convert

    options = ConvertOptions(
        to=args.to, config=args.config, dtype=args.dtype, verify=args.verify, force=args.force, strict=args.strict,
        progress=args.progress,
    )  # fmt: skip
    try:
        result = convert(args.src, args.dst, options)
    except VerifyError as error:
        print(f"dualsam convert: {error}", file=sys.stderr)
        return EXIT_VERIFY_FAILED
    except (CheckpointError, BackendMissingError, OSError) as error:
        print(f"dualsam convert: error: {one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    files = ", ".join(sorted(result.manifest["files"]))
    print(f"wrote {result.dst}: {files}, dualsam_manifest.json")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    return add_arguments(argparse.ArgumentParser(prog="python -m weights_convert", description=DESCRIPTION))


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
