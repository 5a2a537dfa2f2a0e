"""Each step's training arrays, optionally prepared ahead in worker processes so that reading and drawing the
data overlaps the optimization.

The batch of a step is a pure function of (seed, step) (``sam_core.training.BatchSource``, re-exported here), so
prefetched and inline batches are identical. Drawing the prompts with the batch keeps the per-object mask scans out
of the training process, which matters on a GPU, where the optimization step itself takes a few milliseconds.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from sam_core.training.source import BatchSource

__all__ = ["BatchSource", "prefetched"]

T = TypeVar("T")


def prefetched(build: Callable[[int], T], first_step: int, stop_step: int, workers: int, depth: int = 2) -> Iterator[T]:
    """Yields ``build(step)`` for ``first_step <= step < stop_step`` in order.

    Args:
        build: a picklable function of the step, e.g. a ``BatchSource`` or its bound ``arrays`` method.
        workers: with ``workers > 0`` the results are built by that many spawned processes, up to
            ``workers * depth`` steps ahead (spawned rather than forked: the parent's OpenMP threads do not survive
            a fork); with 0, inline.
    """
    if workers <= 0:
        yield from (build(step) for step in range(first_step, stop_step))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future] = deque()
        next_step = first_step
        try:
            for _ in range(first_step, stop_step):
                while next_step < stop_step and len(pending) < workers * depth:
                    pending.append(pool.submit(build, next_step))
                    next_step += 1
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
