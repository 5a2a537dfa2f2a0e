"""The training batch of each step, as a pure function of (seed, step), optionally prepared ahead in worker
processes so that drawing scenes overlaps the optimization.

Step ``s`` draws items ``s*B .. s*B+B-1`` of the seeded scene stream at the curriculum's difficulty for ``s``, and
its prompt Generator is ``default_rng([seed, s])`` (first used to pick the target objects, then to draw the
step's prompts when the source has a prompt mix). A worker returns the Generator with the batch, so prefetched
and inline batches are identical. Drawing the prompts with the batch keeps the per-object mask scans out of the
training process, which matters on a GPU, where the optimization step itself takes a few milliseconds.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sam_core.processing import SamProcessor
from sam_core.synthetic import SyntheticSceneDataset

from .data import TrainingBatch, build_batch, draw_prompts
from .objective import PromptMix


@dataclass
class BatchSource:
    """Everything a step's batch depends on (picklable, so worker processes can build batches).

    Attributes:
        seed: data and prompt stream.
        batch_size: images per step.
        prompts_per_image: target objects per image.
        processor: the model's SamProcessor.
        scene: ``make_scene`` arguments.
        start_difficulty, curriculum_steps: difficulty ramps linearly from start_difficulty to 1 over this many
            steps (0: ``scene['difficulty']``, default 1).
        prompts: when set, each batch comes with its prompts drawn from this mix (``TrainingBatch.prompts``).
    """

    seed: int
    batch_size: int
    prompts_per_image: int
    processor: SamProcessor
    scene: dict[str, Any] = field(default_factory=dict)
    start_difficulty: float = 0.0
    curriculum_steps: int = 0
    prompts: PromptMix | None = None

    def difficulty(self, step: int) -> float:
        if self.curriculum_steps <= 0:
            return float(self.scene.get("difficulty", 1.0))
        ramp = min(1.0, step / self.curriculum_steps)
        return self.start_difficulty + (1.0 - self.start_difficulty) * ramp

    def __call__(self, step: int) -> tuple[TrainingBatch, np.random.Generator]:
        """(the batch of ``step``, its prompt Generator after picking the targets)."""
        dataset = SyntheticSceneDataset(self.seed, **self.scene)
        difficulty = self.difficulty(step)
        scenes = [dataset.scene(step * self.batch_size + i, difficulty=difficulty) for i in range(self.batch_size)]
        rng = np.random.default_rng([self.seed, step])
        batch = build_batch(scenes, self.processor, self.prompts_per_image, rng)
        if self.prompts is not None:
            batch.prompts, batch.masks = draw_prompts(batch, rng, self.prompts), None
        return batch, rng


def prefetched(
    source: BatchSource, first_step: int, stop_step: int, workers: int, depth: int = 2
) -> Iterator[tuple[TrainingBatch, np.random.Generator]]:
    """Yields ``source(step)`` for ``first_step <= step < stop_step`` in order.

    With ``workers > 0`` the batches are built by that many spawned processes, up to ``workers * depth`` steps
    ahead (spawned rather than forked: the parent's OpenMP threads do not survive a fork). With 0, inline.
    """
    if workers <= 0:
        yield from (source(step) for step in range(first_step, stop_step))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future] = deque()
        next_step = first_step
        try:
            for _ in range(first_step, stop_step):
                while next_step < stop_step and len(pending) < workers * depth:
                    pending.append(pool.submit(source, next_step))
                    next_step += 1
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
