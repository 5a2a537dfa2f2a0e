"""Keeping a long-running server's resident memory flat: large per-request buffers go back to the OS when freed.

Each click allocates a few MiB of temporaries (upscaled logits, masks, PNGs). glibc's malloc raises its mmap
threshold as such blocks are freed, so later ones come from the heap, which fragments across threads and never
shrinks: RSS creeps up with traffic although nothing leaks. A fixed threshold keeps every block above it in its own
mapping, returned on free. Measured with 8 threads x 25 clicks a round on the default model: RSS rose from 350 to 365
MiB over 5 rounds with the dynamic threshold, and stayed at 303 +- 1 MiB over 10 with a fixed 256 KiB one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: glibc's mallopt parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD).
M_MMAP_THRESHOLD = -3
#: Blocks of this many bytes or more are mapped on their own (glibc's initial default, made fixed).
MMAP_THRESHOLD_BYTES = 256 * 1024


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Sets glibc's mmap threshold to ``threshold`` bytes (fixed from then on) for this process.

    Returns:
        True when set; False on a platform without glibc (nothing changes there).
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))
