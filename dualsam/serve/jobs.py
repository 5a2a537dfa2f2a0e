"""Background jobs (segment everything): one worker thread runs them in order; their state is polled.

The runner keeps the most recent ``keep`` finished jobs and refuses new ones while ``max_queued`` wait, so neither
results nor the queue grow without bound.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

#: Hex digits of a job id (a random UUID4).
JOB_ID_LENGTH = 32

#: A job's work: called with ``progress(done, total)``, returns the result.
Work = Callable[[Callable[[int, int], None]], Any]


class QueueFullError(RuntimeError):
    """Too many jobs are waiting."""


@dataclass
class Job:
    """One job's state; ``result`` is set when ``status`` is "done", ``error`` (one line) when "failed"."""

    job_id: str
    image_id: str
    status: str = "queued"
    progress: float = 0.0
    result: Any = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None

    def elapsed_s(self) -> float | None:
        if self.started is None:
            return None
        return round((self.finished or time.perf_counter()) - self.started, 3)


class JobRunner:
    """Runs submitted work on one background thread.

    Args:
        keep: finished jobs remembered (older ones are forgotten: polling them gives 404).
        max_queued: jobs that may wait at once.
    """

    def __init__(self, *, keep: int = 32, max_queued: int = 8) -> None:
        self.keep = keep
        self.max_queued = max_queued
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dualsam-job")

    def submit(self, image_id: str, work: Work) -> Job:
        """Queues ``work`` for ``image_id``.

        Raises:
            QueueFullError: ``max_queued`` jobs are waiting already.
        """
        with self._lock:
            if sum(job.status == "queued" for job in self._jobs.values()) >= self.max_queued:
                raise QueueFullError(f"{self.max_queued} jobs are waiting already: try again when one has finished")
            job = Job(uuid.uuid4().hex, image_id)
            self._jobs[job.job_id] = job
            self._forget_old()
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts = {status: 0 for status in ("queued", "running", "done", "failed")}
            for job in self._jobs.values():
                counts[job.status] += 1
            return counts

    def shutdown(self) -> None:
        """Stops after the running job; queued jobs are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _forget_old(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.status in ("done", "failed")]
        for key in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[key]

    def _run(self, job: Job, work: Work) -> None:
        def progress(done: int, total: int) -> None:
            job.progress = round(done / total, 4) if total else 1.0

        job.started = time.perf_counter()
        job.status = "running"
        result, failure = None, None
        try:
            result = work(progress)
        except Exception as error:  # any failure is the job's result; the server goes on
            failure = " ".join(f"{type(error).__name__}: {error}".split())
        with self._lock:  # the outcome and the forgetting of old jobs at once, as ``get`` sees them
            job.finished = time.perf_counter()
            if failure is None:
                job.result, job.progress, job.status = result, 1.0, "done"
            else:
                job.error, job.status = failure, "failed"
            self._forget_old()
