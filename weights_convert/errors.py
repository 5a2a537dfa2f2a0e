"""The converter's error types and exit codes.

Exit codes: 0 success, 1 the --verify check failed, 2 bad input (a one-line message, no traceback).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_BAD_INPUT = 2


class ConvertError(Exception):
    """Bad input: an unreadable or unsafe source, an ambiguous architecture, an existing destination, ...

    The message is one line meant for the user; the CLI prints it and exits with ``EXIT_BAD_INPUT``.
    """


class VerifyError(Exception):
    """The converted weights do not reproduce the source model within tolerance (``EXIT_VERIFY_FAILED``)."""


def one_line(error: BaseException, limit: int = 12) -> str:
    """A single-line message for ``error``: lines joined with "; ", long key lists shortened.

    Args:
        error: any exception (CheckpointError messages span several lines and list every key).
        limit: how many items of a comma-separated list to keep before "... (N more)".
    """
    parts = []
    for line in str(error).splitlines():
        line = line.strip()
        head, sep, items = line.partition("): ")
        names = items.split(", ") if sep else []
        if len(names) > limit:
            line = f"{head}{sep}{', '.join(names[:limit])}, ... ({len(names) - limit} more)"
        if line:
            parts.append(line)
    return "; ".join(parts) or type(error).__name__
