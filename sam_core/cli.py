"""The ``dualsam`` command line. Subcommands register here as they land."""

from __future__ import annotations

import argparse
import sys

from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("dualsam")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dualsam", description="Segment Anything for PyTorch and Keras 3.")
    parser.add_argument("--version", action="version", version=f"dualsam {_version()}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
