"""The destination: refuse what must not be overwritten, write into a temporary sibling, then rename into place.

A crash at any point before the final rename leaves no DST (at worst a hidden ``.NAME.*.partial`` directory next to
it after a hard kill); an exception removes the temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from .errors import ConvertError


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def check_destination(src: str, dst: str, force: bool) -> str:
    """The absolute destination path, after refusing an existing one (unless ``force``) or one that overlaps SRC.

    Raises:
        ConvertError: DST exists without --force, DST and SRC overlap, or DST's parent is not a directory.
    """
    src_real, dst_real = os.path.realpath(src), os.path.realpath(dst)
    if _inside(dst_real, src_real) or _inside(src_real, dst_real):
        raise ConvertError(f"destination {dst} overlaps the source {src}; choose another directory")
    if os.path.lexists(dst) and not force:
        raise ConvertError(f"destination {dst} exists; pass --force to replace it")
    parent = os.path.dirname(os.path.abspath(dst))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise ConvertError(f"the parent of {dst} is not a directory")
    return os.path.abspath(dst)


@contextlib.contextmanager
def staging_directory(dst: str) -> Iterator[str]:
    """Yields an empty temporary directory next to ``dst`` (same filesystem); removes it unless it was published."""
    parent = os.path.dirname(dst)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(dst)}.", suffix=".partial", dir=parent)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def publish(tmp: str, dst: str) -> None:
    """Renames the finished ``tmp`` directory to ``dst``, replacing an existing ``dst`` only once ``tmp`` is in place.

    The directory and its files get the permissions a normal ``mkdir`` and ``open`` would give (mkdtemp and
    mkstemp create them private).
    """
    mask = _umask()
    os.chmod(tmp, 0o755 & ~mask)
    for name in os.listdir(tmp):
        os.chmod(os.path.join(tmp, name), 0o644 & ~mask)
    if not os.path.lexists(dst):
        os.rename(tmp, dst)
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(dst)}.", suffix=".old", dir=os.path.dirname(dst))
    os.rmdir(old)
    os.rename(dst, old)
    try:
        os.rename(tmp, dst)
    except BaseException:
        os.rename(old, dst)
        raise
    _remove(old)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
