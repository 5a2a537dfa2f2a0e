"""The ``dualsam`` command line. Subcommands register here as they land."""

from __future__ import annotations

import argparse
import sys

from importlib import metadata

from weights_convert import cli as convert_cli


def _version() -> str:
    try:
        return metadata.version("dualsam")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dualsam", description="Segment Anything for PyTorch and Keras 3.")
    parser.add_argument("--version", action="version", version=f"dualsam {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    convert = commands.add_parser(
        "convert", help="convert SAM weights between Meta, PyTorch and Keras", description=convert_cli.DESCRIPTION
    )
    convert_cli.add_arguments(convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "convert":
        return convert_cli.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
