"""Images read and prepared by background threads while the model runs: the loop both engines share (the local
engine over the whole run, each Ray actor over the batches Ray Data hands it)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

from .tasks import ImageTask
from .worker import DatasetWorker, Prepared


def pipelined(
    worker: DatasetWorker, tasks: Iterable[ImageTask], batch_size: int, pool: Executor
) -> Iterator[list[dict[str, Any]]]:
    """Yields the results of ``tasks`` one encoder batch at a time, in order.

    ``pool`` reads and prepares the images at most two batches ahead of the model (so memory stays bounded by
    ``2 * batch_size`` decoded images, whatever the number of tasks).

    Args:
        worker: the loaded model and the work.
        tasks: the images to do.
        batch_size: images per encoder call.
        pool: the reading threads.
    """
    pending = iter(tasks)
    window: deque[Future[Prepared]] = deque()

    def fill() -> None:
        while len(window) < 2 * batch_size:
            task = next(pending, None)
            if task is None:
                return
            window.append(pool.submit(worker.prepare, task))

    fill()
    while window:
        batch = [window.popleft().result() for _ in range(min(batch_size, len(window)))]
        fill()
        yield worker.run(batch)
