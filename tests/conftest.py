"""Shared fixtures of the parity suite: test images and twin models (ours and transformers') on the same
informative random weights."""

from __future__ import annotations

import os

# transformers is the torch reference here; keep it from importing TensorFlow (slow, noisy) as well.
os.environ.setdefault("USE_TF", "0")


def _share_cores_among_workers() -> None:
    """Under pytest-xdist (``make test``), each worker's frameworks get cores // workers threads: two workers on two
    cores each asking torch, TensorFlow and the BLAS for both cores would spin waiting for each other. Set before any
    framework is imported (this file is imported first); a value already in the environment is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = str(max(1, cores // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ.setdefault(name, threads)


_share_cores_among_workers()


