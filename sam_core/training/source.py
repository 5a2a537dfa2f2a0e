"""The training batch of each step, as a pure function of (seed, step), and the arrays both backends train from.

Step ``s`` has the prompt Generator ``default_rng([seed, s])``, first used to pick the target instances, then to
draw the step's prompts (when the source has a prompt mix), then the corrective-round uniforms (``arrays``).

- Without a dataset (the default), step ``s`` draws items ``s*B .. s*B+B-1`` of the seeded synthetic scene stream
  at the curriculum's difficulty for ``s`` (the stream ``scripts/train_default.py`` trains the default model on).
- With a dataset, the training indices are visited epoch by epoch, each epoch in its own seeded permutation
  (``default_rng([seed, EPOCH_STREAM, epoch])``): stream position ``k = s*B + i`` is element ``k % n`` of epoch
  ``k // n``'s permutation (n training items; a batch may straddle two epochs). An item with no instance that has a
  pixel is skipped: its slot takes the next usable item of the stream (ValueError when no training item is usable).

A source is picklable, so worker processes can build batches ahead of the optimization and get the same batches.

Shape legend: B images, P prompts per image, N points per prompt, R corrective rounds, S model input side,
L low-res mask frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..datasets.base import TrainingDataset
from ..processing import SamProcessor
from ..synthetic import SyntheticSceneDataset
from .batch import ItemLike, TrainingBatch, build_batch, draw_prompts, usable_instances
from .config import PromptMix
from .corrective import valid_cells

#: Second word of the per-epoch permutation seeds (keeps them apart from the per-step prompt seeds).
EPOCH_STREAM = 7_919


@dataclass
class BatchSource:
    """Everything a step's batch depends on.

    Attributes:
        seed: data and prompt stream.
        batch_size: images per step.
        prompts_per_image: target instances per image.
        processor: the model's SamProcessor.
        scene: ``make_scene`` arguments of the synthetic stream.
        start_difficulty, curriculum_steps: synthetic difficulty ramps linearly from start_difficulty to 1 over
            this many steps (0: ``scene['difficulty']``, default 1).
        prompts: when set, each batch comes with its prompts drawn from this mix (``TrainingBatch.prompts``).
        dataset: a ``sam_core.datasets.TrainingDataset`` to train on; None: the synthetic stream.
        indices: the dataset's training item indices (default: all of them).
    """

    seed: int
    batch_size: int
    prompts_per_image: int
    processor: SamProcessor
    scene: dict[str, Any] = field(default_factory=dict)
    start_difficulty: float = 0.0
    curriculum_steps: int = 0
    prompts: PromptMix | None = None
    dataset: TrainingDataset | None = None
    indices: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if self.dataset is not None:
            self.indices = list(range(len(self.dataset))) if self.indices is None else [int(i) for i in self.indices]
            if not self.indices:
                raise ValueError("dataset: no training items (an empty dataset or an empty training split)")

    def difficulty(self, step: int) -> float:
        if self.curriculum_steps <= 0:
            return float(self.scene.get("difficulty", 1.0))
        ramp = min(1.0, step / self.curriculum_steps)
        return self.start_difficulty + (1.0 - self.start_difficulty) * ramp

    def steps_per_epoch(self) -> int:
        """Steps that visit every training item once (rounded up); ValueError for the endless synthetic stream."""
        if self.dataset is None:
            raise ValueError("the synthetic stream has no epochs; give a dataset")
        return -(-len(self.indices) // self.batch_size)

    def dataset_index(self, position: int) -> int:
        """The dataset index at stream ``position`` (before skipping unusable items)."""
        count = len(self.indices)
        epoch, offset = divmod(position, count)
        order = np.random.default_rng([self.seed, EPOCH_STREAM, epoch]).permutation(count)
        return self.indices[int(order[offset])]

    def _usable_item(self, position: int) -> ItemLike:
        for shift in range(len(self.indices)):
            item = self.dataset[self.dataset_index(position + shift)]
            if usable_instances(item).any():
                return item
        raise ValueError("dataset: none of the training items has an instance mask with a pixel")

    def items(self, step: int) -> list[ItemLike]:
        """The B items of ``step``."""
        first = step * self.batch_size
        if self.dataset is None:
            scenes = SyntheticSceneDataset(self.seed, **self.scene)
            difficulty = self.difficulty(step)
            return [scenes.scene(first + i, difficulty=difficulty) for i in range(self.batch_size)]
        return [self._usable_item(first + i) for i in range(self.batch_size)]

    def __call__(self, step: int) -> tuple[TrainingBatch, np.random.Generator]:
        """(the batch of ``step``, its prompt Generator after picking the targets and, with a mix, the prompts)."""
        rng = np.random.default_rng([self.seed, step])
        batch = build_batch(self.items(step), self.processor, self.prompts_per_image, rng)
        if self.prompts is not None:
            batch.prompts, batch.masks = draw_prompts(batch, rng, self.prompts), None
        return batch, rng

    def arrays(self, step: int) -> dict[str, np.ndarray]:
        """The arrays of ``step`` that both backends train from (``training_arrays``; needs a prompt mix)."""
        if self.prompts is None:
            raise ValueError("BatchSource.arrays needs a prompt mix (prompts=PromptMix(...))")
        batch, rng = self(step)
        return training_arrays(batch, self.processor, self.prompts, rng)


def training_arrays(
    batch: TrainingBatch, processor: SamProcessor, mix: PromptMix, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """A batch as the training contract of both backends, with its prompts scaled into the model frame.

    The prompts are ``batch.prompts`` when the batch came with them, else drawn from ``rng`` now (the same draws);
    the corrective uniforms are drawn from ``rng`` after them.

    Returns:
        pixel_values (B, 3, S, S) float32; targets (B, P, L, L) float32 0/1; input_points (B, P, N, 2) float32 and
        input_labels (B, P, N) int64 in the model frame; input_boxes (B, P, 4) float32 (only when ``mix.boxes``);
        multimask () bool (True: one positive point, SAM's best-of-3 output; False: several points, one mask);
        original_sizes (B, 2) int64; reshaped_input_sizes (B, 2) int64; and, only when
        ``mix.corrective_rounds = R > 0``, corrective_uniforms (R, B, P) float32 in [0, 1) and valid_cells
        (B, L, L) bool (``corrective.valid_cells``).
    """
    prompts = batch.prompts if batch.prompts is not None else draw_prompts(batch, rng, mix)
    sizes = batch.original_sizes
    scaled = processor(original_sizes=sizes, input_points=prompts.points, input_labels=prompts.labels)
    arrays = {
        "pixel_values": np.asarray(batch.pixel_values, dtype=np.float32),
        "targets": np.asarray(batch.targets, dtype=np.float32),
        "input_points": np.asarray(scaled["input_points"], dtype=np.float32),
        "input_labels": np.asarray(scaled["input_labels"], dtype=np.int64),
        "multimask": np.array(not prompts.multi),
        "original_sizes": np.asarray(sizes, dtype=np.int64),
        "reshaped_input_sizes": np.asarray(batch.reshaped_input_sizes, dtype=np.int64),
    }
    if prompts.boxes is not None:
        boxes = processor(original_sizes=sizes, input_boxes=prompts.boxes)["input_boxes"]
        arrays["input_boxes"] = np.asarray(boxes, dtype=np.float32)
    if mix.corrective_rounds > 0:
        batch_size, prompts_per_image = batch.objects.shape
        uniforms = rng.random((mix.corrective_rounds, batch_size, prompts_per_image), dtype=np.float32)
        arrays["corrective_uniforms"] = uniforms
        frame = arrays["targets"].shape[-1]
        arrays["valid_cells"] = valid_cells(batch.reshaped_input_sizes, processor.target_size, frame)
    return arrays


def split_arrays(arrays: dict[str, np.ndarray], parts: int) -> list[dict[str, np.ndarray]]:
    """The training arrays cut into ``parts`` equal micro-batches along B (gradient accumulation).

    ``multimask`` is shared, ``corrective_uniforms`` is cut along its second axis, everything else along the first.
    Every loss is a mean over the prompts, so the mean of the micro-batches' losses is the whole batch's loss.

    Raises:
        ValueError: B is not a multiple of ``parts``.
    """
    batch_size = len(arrays["pixel_values"])
    if parts < 1 or batch_size % parts:
        raise ValueError(f"parts: {batch_size} images do not split into {parts} equal micro-batches")
    size = batch_size // parts

    def cut(name: str, value: np.ndarray, start: int) -> np.ndarray:
        if name == "multimask":
            return value
        if name == "corrective_uniforms":
            return value[:, start : start + size]
        return value[start : start + size]

    return [{name: cut(name, value, i * size) for name, value in arrays.items()} for i in range(parts)]
