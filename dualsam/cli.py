"""The ``dualsam`` command line.

Subcommands: ``convert`` (weights_convert), ``segment``, ``generate``, ``info``, ``export``, ``finetune``,
``evaluate`` and ``serve``.
Exit codes: 0 ok, 1 ``convert --verify`` or the export's check failed, 2 bad input (one line on stderr, no
traceback). Importing this module imports no framework; each subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from weights_convert import cli as convert_cli

from . import cli_evaluate, cli_export, cli_finetune, cli_generate, cli_info, cli_segment, cli_serve
from .cli_common import EXIT_BAD_INPUT, CliError, one_line_errors, version

#: name -> (module with DESCRIPTION, add_arguments and run; one-line help). Their parse errors are one line.
IMAGE_COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "segment": (cli_segment, "segment an image from point / box prompts"),
    "generate": (cli_generate, "segment everything in an image (automatic mask generator)"),
    "info": (cli_info, "summarize a SAM checkpoint: architecture, parameters, formats, sizes"),
    "export": (cli_export, "export a model for a runtime backend (ONNX), checked against the model"),
    "finetune": (cli_finetune, "fine-tune a model on your own data (COCO file or mask folder)"),
    "evaluate": (cli_evaluate, "point and box mIoU of a model on your data, overall and per category"),
    "serve": (cli_serve, "serve a click-to-segment page and JSON API (encode once, decode per click)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dualsam", description="Segment Anything for PyTorch and Keras 3.")
    parser.add_argument("--version", action="version", version=f"dualsam {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    convert = commands.add_parser(
        "convert", help="convert SAM weights between Meta, PyTorch and Keras", description=convert_cli.DESCRIPTION
    )
    convert_cli.add_arguments(convert)
    for name, (module, help_text) in IMAGE_COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=module.DESCRIPTION)
        module.add_arguments(one_line_errors(sub, name))
    return parser


def _bad_input(command: str | None, error: CliError) -> int:
    print(f"dualsam {error.command or command}: error: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except CliError as error:
        return _bad_input(None, error)
    if extra:
        if args.command not in IMAGE_COMMANDS:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return _bad_input(args.command, CliError(f"unrecognized arguments: {' '.join(extra)}"))
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "convert":
        return convert_cli.run(args)
    try:
        return IMAGE_COMMANDS[args.command][0].run(args)
    except CliError as error:
        return _bad_input(args.command, error)


if __name__ == "__main__":
    sys.exit(main())
