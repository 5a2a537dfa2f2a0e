"""``dualsam export MODEL --format onnx|tflite|savedmodel --out DIR``: export a model for a runtime backend.

ONNX (from the torch backend) writes encoder.onnx, decoder.onnx (Meta's ONNX decoder signature), decoder_lowres.onnx
(P prompts a run, low-res logits; what ``--backend onnx`` decodes with), with ``--quantize int8`` also their
``*.int8.onnx`` twins; LiteRT (from the Keras backend) writes the same graphs as ``*.tflite`` (``--backend tflite``);
SavedModel (Keras) writes ``savedmodel/`` with the model's ``serve`` endpoint. Each also writes dualsam_export.json
(config, preprocessing, input/output names and shapes, sha256 of every file) after checking the export against the
model (ONNX Runtime, LiteRT, tf.saved_model.load). Run an ONNX or LiteRT export with ``dualsam segment|generate
--backend onnx|tflite --model DIR``. Exit codes: 0 ok, 1 the check failed, 2 bad input. Importing this module
imports no framework.
"""

from __future__ import annotations

import argparse
import os
import sys

from .cli_common import EXIT_OK, CliError, add_config_argument, add_dtype_argument

DESCRIPTION = (
    "Export a SAM model for a runtime backend: ONNX from torch or LiteRT from Keras (the encoder, the decoder with "
    "Meta's decoder signature, a low-res decoder for batches of prompts, dualsam_export.json), checked against the "
    "model with ONNX Runtime or LiteRT; or a TensorFlow SavedModel. Run an ONNX or LiteRT export with "
    "--backend onnx|tflite --model DIR."
)
EXIT_CHECK_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The export arguments."""
    parser.add_argument(
        "model", metavar="MODEL", nargs="?",
        help="what --model takes: a model directory, Hub id or weight file such as Meta's .pth (default: the model "
        "shipped with the package)",
    )  # fmt: skip
    parser.add_argument(
        "--format", default="onnx", metavar="onnx|tflite|savedmodel",
        help="export format: onnx (from torch), tflite (LiteRT, from Keras), savedmodel (Keras) (default: onnx)",
    )  # fmt: skip
    parser.add_argument("--out", metavar="DIR", required=True, help="export directory (created if needed)")
    parser.add_argument(
        "--quantize", metavar="int8",
        help="also write dynamically quantized *.int8.onnx / *.int8.tflite files (onnx, tflite)",
    )  # fmt: skip
    parser.add_argument("--opset", type=int, metavar="N", help="ONNX opset, at least 17 (default: 17; onnx only)")
    add_config_argument(parser)
    parser.add_argument(
        "--backend", metavar="torch|tf", help="backend to load MODEL with (onnx exports from torch, tflite and "
        "savedmodel from tf)"
    )  # fmt: skip
    add_dtype_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="print only the final line")
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam export``; returns the exit code (bad input raises CliError)."""
    from .export import ExportFailedError, export_model
    from .models import ModelError, check_dtype

    try:
        dtype = check_dtype(args.dtype)
    except ModelError as error:
        raise CliError(str(error)) from error
    if dtype != "fp32":
        raise CliError(f"--dtype {dtype} does not apply to export: the exported graphs are float32 (--quantize int8 "
                       "shrinks them)")  # fmt: skip
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
