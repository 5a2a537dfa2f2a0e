"""Atomic file writes: write to a temporary file in the same directory, then rename over the target (and the same
for whole directories)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path next to ``path``; on success it replaces ``path`` in one rename.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def json_text(content: Any, *, sort_keys: bool = False) -> str:
    """Indented JSON text with a final newline."""
    return json.dumps(content, indent=2, sort_keys=sort_keys) + "\n"


def write_json(path: str | os.PathLike, content: Any, *, sort_keys: bool = False) -> None:
    """Writes ``content`` as indented JSON to ``path`` atomically (the one JSON writer of the project).

    Args:
        path: the file to write.
        content: anything ``json.dumps`` takes.
        sort_keys: sort object keys (config files, manifests), else keep their order (results).
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(json_text(content, sort_keys=sort_keys))


def replace_directory(directory: str | os.PathLike, write: Callable[[str], None]) -> str:
    """Replaces ``directory`` by a complete new one: ``write(staging)`` fills ``directory + ".tmp"``, which then takes
    the old one's place by renames (the old one is kept as ``.old`` until then), so a crash leaves either the old or
    the new directory, never a half-written one. Returns ``directory``."""
    directory = os.fspath(directory)
    staging, retired = directory + ".tmp", directory + ".old"
    for leftover in (staging, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    write(staging)
    if os.path.isdir(directory):
        os.replace(directory, retired)
    os.replace(staging, directory)
    shutil.rmtree(retired, ignore_errors=True)
    return directory
