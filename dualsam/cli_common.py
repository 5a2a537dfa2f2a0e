"""What the ``dualsam`` image subcommands share: one-line errors, model options, image input and atomic outputs.

Exit codes follow ``dualsam convert``: 0 ok, 2 bad input (one line on stderr, no traceback). Importing this module
imports no framework.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import numpy as np
from PIL import Image

from sam_core.atomic import atomic_path

from .images import ImageReadError, read_image
from .resources import EXAMPLE_IMAGE, EXAMPLE_PROMPTS

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class CliError(Exception):
    """Bad input to a subcommand: printed as ``dualsam COMMAND: error: MESSAGE`` with exit code 2.

    Args:
        message: one line for the user.
        command: the subcommand, when the error is raised before it runs (argument parsing).
    """

    def __init__(self, message: str, command: str | None = None) -> None:
        super().__init__(" ".join(str(message).split()))
        self.command = command


def one_line_errors(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """Makes ``parser`` raise CliError (one line, exit 2 in ``main``) instead of printing usage and exiting."""

    def error(message: str) -> None:
        raise CliError(f"{message} (see dualsam {command} --help)", command)

    parser.error = error  # type: ignore[method-assign]
    return parser


def add_image_argument(parser: argparse.ArgumentParser) -> None:
    """The optional IMAGE positional of segment and generate."""
    parser.add_argument(
        "image", metavar="IMAGE", nargs="*", default=[],
        help="image files (any format Pillow reads), directories (searched recursively) or glob patterns; one file "
        "gives the single-image outputs, anything more a dataset in --out (default: the shipped example image)",
    )  # fmt: skip


def example_point() -> tuple[float, float, int]:
    """The shipped example's default prompt: a foreground point (x, y, 1) in one object's most interior pixel."""
    with open(EXAMPLE_PROMPTS, encoding="utf-8") as handle:
        x, y = json.load(handle)["point"]
    return float(x), float(y), 1


def image_path(args: argparse.Namespace) -> str:
    """IMAGE, or the shipped example image when it was omitted."""
    return args.image[0] if args.image else str(EXAMPLE_IMAGE)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --config, --backend and --dtype: every command that runs a model."""
    parser.add_argument(
        "--model", metavar="DIR|HUB_ID|FILE.pth",
        help="a transformers-layout directory, a Hugging Face Hub id, or a weight file such as Meta's .pth "
        "(default: the small model shipped with the package, trained on synthetic shapes)",
    )  # fmt: skip
    add_config_argument(parser)
    parser.add_argument(
        "--backend", metavar="torch|tf|onnx|tflite",
        help="framework to run on, or a runtime for an export directory given as --model (onnx: ONNX Runtime, "
        "tflite: LiteRT) (default: torch if installed, else tf)",
    )  # fmt: skip
    add_dtype_argument(parser)


def add_dtype_argument(parser: argparse.ArgumentParser) -> None:
    """--dtype fp32|bf16 (checked by ``dualsam.models.check_dtype``: a bad value exits 2)."""
    parser.add_argument(
        "--dtype", metavar="fp32|bf16", default="fp32",
        help="precision: fp32, or bf16 (float32 weights, the image encoder's matrix products in bfloat16: about "
        "half the encoder time on CPUs with bf16 support; torch and tf backends) (default: fp32)",
    )  # fmt: skip


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """--config, for weight files without a config.json whose shapes leave the architecture open."""
    parser.add_argument(
        "--config", metavar="PRESET|config.json",
        help="the architecture, when MODEL has no config.json (default: inferred from the tensor shapes)",
    )  # fmt: skip


def add_out_argument(parser: argparse.ArgumentParser, suffix: str) -> None:
    parser.add_argument(
        "--out", metavar="DIR", help=f"output directory (default: ./IMAGE_STEM_{suffix}, created if needed)"
    )  # fmt: skip


def version() -> str:
    try:
        return metadata.version("dualsam")
    except metadata.PackageNotFoundError:
        return "unknown"


def load_image(path: str) -> np.ndarray:
    """Reads an image file as (H, W, 3) uint8 RGB with its EXIF orientation (``dualsam.images.read_image``).

    Raises:
        CliError: missing, unreadable, too large or not an image.
    """
    try:
        return read_image(path)
    except ImageReadError as error:
        raise CliError(str(error)) from error


def output_dir(out: str | None, image_path: str, suffix: str) -> str:
    """The output directory: --out, or ./STEM_SUFFIX. Must not be an existing file."""
    directory = out or f"{os.path.splitext(os.path.basename(image_path))[0]}_{suffix}"
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CliError(f"--out {directory} exists and is not a directory")
    return directory


def output_path(directory: str, name: str, image_path: str) -> str:
    """``directory/name``, refusing a path that is the input image."""
    path = os.path.join(directory, name)
    if os.path.exists(path) and os.path.samefile(path, image_path):
        raise CliError(f"refusing to overwrite the input image {image_path}: choose another --out")
    return path


def write_png(image: np.ndarray | Image.Image, path: str) -> None:
    """Writes a PNG atomically."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


class Timings(dict):
    """Stage name -> seconds (rounded to ms), filled by ``with timings.stage(name):``."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[f"{name}_s"] = round(time.perf_counter() - start, 3)


def load_model_or_exit(args: argparse.Namespace, timings: Any) -> Any:
    """Loads ``args.model`` for ``args.backend`` (timed as "load_model"); a bad model is a one-line CliError."""
    from .models import ModelError, load_model

    with timings.stage("load_model"):
        try:
            return load_model(args.model, args.backend, args.config, args.dtype)
        except ModelError as error:
            raise CliError(str(error)) from error
