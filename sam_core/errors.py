"""User-facing error text shared by every command and loader: one line, long key lists shortened."""

from __future__ import annotations


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
