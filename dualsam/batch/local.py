"""The local engine: one model in this process, images read and prepared by background threads while it runs."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .pipeline import pipelined
from .shards import ShardWriter
from .tasks import ImageTask
from .worker import DatasetWorker, ModelSpec


def run_local(
    spec: ModelSpec,
    mode: str,
    options: dict[str, Any],
    tasks: list[ImageTask],
    out: str,
    *,
    batch_size: int,
    threads: int = 2,
    on_done: Callable[[int], None] = lambda count: None,
) -> None:
    """Runs ``tasks`` and writes one shard per encoder batch.

    Args:
        spec, mode, options: the worker's model and work (see DatasetWorker).
        tasks: the images still to do.
        out: the output directory (its shards/ receives the results).
        batch_size: images per encoder call (and per shard).
        threads: image-reading threads; they stay at most two batches ahead, so memory is bounded.
        on_done: called with the number of images each time a batch is written (progress).
    """
    if not tasks:
        return
    worker = DatasetWorker(spec, mode, options, out)
    writer = ShardWriter(out)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dualsam-read") as pool:
        for results in pipelined(worker, tasks, batch_size, pool):
            writer.write(results)
            on_done(len(results))
