"""The converter's error types and exit codes.

Exit codes: 0 success, 1 the --verify check failed, 2 bad input (a one-line message, no traceback).
"""

from __future__ import annotations

from sam_core.errors import one_line
from sam_core.weights import CheckpointError

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_BAD_INPUT = 2

__all__ = [
    "EXIT_BAD_INPUT", "EXIT_OK", "EXIT_VERIFY_FAILED", "CheckpointError", "ConvertError", "VerifyError", "one_line",
]  # fmt: skip


class ConvertError(CheckpointError):
    """Bad input to the converter (an existing destination, a bad --to or --dtype, ...), beside the checkpoint
    errors it shares with every loader. The message is one line; the CLI prints it and exits with
    ``EXIT_BAD_INPUT``."""


class VerifyError(Exception):
    """The converted weights do not reproduce the source model within tolerance (``EXIT_VERIFY_FAILED``)."""
