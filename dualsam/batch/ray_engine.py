"""The Ray engine: the same per-image work (``DatasetWorker``) in a pool of Ray actors through Ray Data.

A dataset of image references (each task as JSON: path, key, prompts) goes through ``map_batches`` with a callable
class, so each actor loads the model once (``compute=ActorPoolStrategy(size=workers)``, the current spelling of
``concurrency=workers``; ``num_cpus`` / ``num_gpus`` per actor). Each actor writes its results to ``out/shards`` in the
same shard format as the local engine, and the driver merges them. Inputs and ``out`` must be on storage every node
sees (a shared file system): an actor that cannot see ``out``, or an image, says so with its node's name.

Without an address (and no ``RAY_ADDRESS``), ``ray.init()`` starts a local cluster on this machine; with one, the job
joins that cluster.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .pipeline import pipelined
from .shards import ShardWriter
from .tasks import ImageTask
from .worker import DatasetWorker, ModelSpec


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ImportError("the ray engine needs Ray Data: pip install 'dualsam[ray]'") from error
    return ray


class RayDatasetWorker:
    """One Ray actor: checks that it sees ``out``, loads the model once, and processes batches of task rows.

    Each batch Ray Data hands the actor goes through the local engine's pipeline: images are read by background
    threads while the model runs, ``batch_size`` images per encoder call and per shard.

    Args:
        spec: ModelSpec fields as a dict.
        mode, options: the work (see DatasetWorker).
        out: the output directory, which must be visible on this node.
        batch_size: images per encoder call.
        threads: image-reading threads.
    """

    def __init__(
        self, spec: dict[str, Any], mode: str, options: dict[str, Any], out: str, batch_size: int = 1, threads: int = 2
    ) -> None:
        self.node = socket.gethostname()
        if not os.path.isdir(os.path.join(out, "shards")):
            raise RuntimeError(f"--out {out} is not visible on Ray node {self.node}: inputs and --out must be on "
                               "storage that every node of the cluster sees (a shared file system)")  # fmt: skip
        self.worker = DatasetWorker(ModelSpec(**spec), mode, options, out)
        self.writer = ShardWriter(out)
        self.batch_size = batch_size
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dualsam-read")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tasks = [ImageTask.from_json(json.loads(str(item))) for item in batch["task"]]
        keys, failed = [], []
        for results in pipelined(self.worker, tasks, self.batch_size, self.pool):
            for result in results:
                if result["error"] is not None and not os.path.exists(result["path"]):
                    result["error"] = (f"image {result['path']} is not visible on Ray node {self.node}: input paths "
                                       "must be visible to every node of the cluster")  # fmt: skip
            self.writer.write(results)
            keys.extend(r["key"] for r in results)
            failed.extend(r["error"] is not None for r in results)
        return {"key": np.array(keys), "failed": np.array(failed, dtype=bool)}


def ray_batch_size(tasks: int, blocks: int, encoder_batch: int) -> int:
    """Rows per Ray Data batch: a block's worth (so each actor call reads ahead across several encoder batches),
    rounded up to whole encoder batches."""
    per_block = -(-tasks // blocks)
    return max(1, -(-per_block // encoder_batch)) * encoder_batch


def run_ray(
    spec: ModelSpec,
    mode: str,
    options: dict[str, Any],
    tasks: list[ImageTask],
    out: str,
    engine: Any,
    on_done: Callable[[int], None] = lambda count: None,
) -> None:
    """Runs ``tasks`` on Ray actors; returns when every shard is written.

    Args:
        spec, mode, options: the work (see DatasetWorker).
        tasks: the images still to do.
        out: the output directory (absolute paths are sent to the actors).
        engine: EngineOptions (workers, address, cpus_per_worker, gpus_per_worker, batch_size, threads).
        on_done: progress, called with the number of images of each finished batch.
    """
    if not tasks:
        return
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        address = engine.address or os.environ.get("RAY_ADDRESS")
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({} if address else {"num_cpus": max(1, int(engine.workers * engine.cpus_per_worker))}))  # fmt: skip
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        rows = [{"task": json.dumps(task.to_json())} for task in tasks]
        blocks = max(1, min(len(rows), 4 * engine.workers))
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        results = dataset.map_batches(
            RayDatasetWorker,
            fn_constructor_kwargs={"spec": dataclasses.asdict(spec), "mode": mode, "options": options,
                                   "out": os.path.abspath(out), "batch_size": engine.batch_size,
                                   "threads": engine.threads},  # fmt: skip
            batch_size=ray_batch_size(len(rows), blocks, engine.batch_size),
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=engine.workers),
            num_cpus=engine.cpus_per_worker,
            num_gpus=engine.gpus_per_worker or None,
        )
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            on_done(len(batch["key"]))
    finally:
        if started_here:
            ray.shutdown()
