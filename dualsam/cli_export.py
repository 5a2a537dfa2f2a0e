"""``dualsam export MODEL --format onnx --out DIR``: export a model for a runtime backend.

Writes encoder.onnx, decoder.onnx (Meta's ONNX decoder signature), decoder_lowres.onnx (P prompts a run, low-res
logits; what ``--backend onnx`` decodes with), with ``--quantize int8`` also their ``*.int8.onnx`` twins, and
dualsam_export.json (config, preprocessing, input/output names and shapes, opset, sha256 of every file). Every
export is checked against the model with ONNX Runtime first. Run the export with ``dualsam segment|generate
--backend onnx --model DIR``. Exit codes: 0 ok, 1 the check failed, 2 bad input. Importing this module imports no
framework.
"""

from __future__ import annotations

import argparse
import os
import sys

from .cli_common import EXIT_OK, CliError, add_config_argument

DESCRIPTION = (
    "Export a SAM model for a runtime backend: ONNX (encoder.onnx, decoder.onnx with Meta's decoder signature, "
    "decoder_lowres.onnx for batches of prompts, dualsam_export.json), checked against the model with ONNX Runtime. "
    "Run it with --backend onnx --model DIR."
)
EXIT_CHECK_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The export arguments."""
    parser.add_argument(
        "model", metavar="MODEL", nargs="?",
        help="what --model takes: a model directory, Hub id or weight file such as Meta's .pth (default: the model "
        "shipped with the package)",
    )  # fmt: skip
    parser.add_argument("--format", default="onnx", metavar="onnx", help="export format (default: onnx)")
    parser.add_argument("--out", metavar="DIR", required=True, help="export directory (created if needed)")
    parser.add_argument("--quantize", metavar="int8", help="also write dynamically quantized *.int8.onnx files")
    parser.add_argument("--opset", type=int, metavar="N", help="ONNX opset, at least 17 (default: 17)")
    add_config_argument(parser)
    parser.add_argument(
        "--backend", metavar="torch", help="backend to load MODEL with (the ONNX export runs from torch)"
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="print only the final line")
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam export``; returns the exit code (bad input raises CliError)."""
    from .export import ExportFailedError, export_model
    from .models import ModelError

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CliError(f"--out {args.out} exists and is not a directory")
    log = None if args.quiet else (lambda line: print(line, file=sys.stdout, flush=True))
    try:
        result = export_model(
            args.model, args.out, format=args.format, quantize=args.quantize, config=args.config,
            backend=args.backend, opset=args.opset, log=log,
        )  # fmt: skip
    except ModelError as error:
        raise CliError(str(error)) from error
    except ExportFailedError as error:
        print(f"dualsam export: check failed: {error}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    files = ", ".join(result.manifest["files"])
    check = result.manifest["check"]
    print(f"wrote {result.directory}: {files}, dualsam_export.json ({check['outputs']} probe outputs within "
          f"rtol {check['rtol']:g})")  # fmt: skip
    return EXIT_OK
