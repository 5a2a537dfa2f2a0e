"""Splitting the cores among the server's model slots: each model call gets its share of threads, not all of them.

The server runs up to ``slots`` model calls at once (``dualsam.serve.session``). If each of them also asks its
framework for every core, and numpy's BLAS (the mask upscaler's matmul) for every core again, the threads outnumber
the cores and spin waiting for each other: on 2 cores, 8 clients clicking, a click took 289 ms at p50 with
torch's default threads, and numpy's matmul after a torch call took up to 10x its time alone. So the server gives
each call cores // slots framework threads and keeps numpy's BLAS on one thread; the slots give the parallelism.
A lone upload is then encoded on that share of the cores only (the price of a flat click latency under load).

This changes process-wide settings: ``dualsam serve`` calls :func:`share_cores` once at start, not ``create_app``
(which tests build in their own process).
"""

from __future__ import annotations

import os
from typing import Any


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_per_call(slots: int, cores: int | None = None) -> int:
    """Framework threads for one model call when ``slots`` calls may run at once: cores // slots, at least 1."""
    if slots < 1:
        raise ValueError(f"slots must be at least 1, got {slots}")
    return max(1, (usable_cores() if cores is None else cores) // slots)


def share_cores(backend: str, slots: int, model: Any = None) -> int:
    """Gives each of ``slots`` concurrent model calls its share of the cores, and numpy's BLAS one thread.

    Args:
        backend: the loaded model's backend ("torch" sets torch's intra-op threads, "onnx" reopens the model's
            sessions with that many non-spinning threads; the others keep their own).
        slots: how many model calls may run at once.
        model: the loaded model (needed for "onnx").

    Returns:
        The framework threads per call (as set for torch and ONNX Runtime).
    """
    threads = threads_per_call(slots)
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    elif backend == "onnx" and hasattr(model, "set_threads"):
        model.set_threads(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # process-wide from here on (not used as a context)
    return threads
