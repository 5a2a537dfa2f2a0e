"""Keeping a long-running server's resident memory flat without paying for it on every click: glibc malloc tuned once.

Each click allocates a few MiB of temporaries (the decoder's activations, upscaled logits, masks). Left to itself,
glibc raises its mmap threshold as such blocks are freed, and the threads that serve requests spread them over up
to 8 arenas a core, which fragment and never shrink: RSS crept up with traffic although nothing leaked (350 to 365
MiB over 1,000 clicks, 8 threads). A fixed threshold as low as 256 KiB stopped the creep but mapped every such block
on its own and unmapped it on free, so each click paid fresh page faults for every buffer: ~40% more CPU per click
(in one process, one thread, default model, side by side: 20 ms with the settings below, 29-34 ms with 256 KiB).

So: fixed thresholds high enough that a click's buffers are reused from the heap (blocks of MMAP_THRESHOLD_BYTES and
more, such as a large upload's encoder activations, are still mapped on their own and returned on free), free heap
kept up to TRIM_THRESHOLD_BYTES instead of being returned and faulted in again, and at most ARENA_MAX arenas (as
many as the model calls running at once), so that the heaps reach their working size in the first requests and
stay there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: glibc's mallopt parameter numbers (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
#: Blocks of this many bytes or more are mapped on their own (glibc's largest dynamic threshold, made fixed).
MMAP_THRESHOLD_BYTES = 32 * 2**20
#: Free memory at the top of a heap kept for reuse, up to this many bytes.
TRIM_THRESHOLD_BYTES = 64 * 2**20
#: Arenas for the whole process (glibc's default: 8 a core).
ARENA_MAX = 2


def tune_malloc(
    mmap_threshold: int = MMAP_THRESHOLD_BYTES, trim_threshold: int = TRIM_THRESHOLD_BYTES, arenas: int = ARENA_MAX
) -> bool:
    """Fixes glibc's mmap and trim thresholds and bounds its arenas for this process (call it before serving).

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
    settings = ((M_MMAP_THRESHOLD, mmap_threshold), (M_TRIM_THRESHOLD, trim_threshold), (M_ARENA_MAX, arenas))
    return all(mallopt(parameter, int(value)) == 1 for parameter, value in settings)
