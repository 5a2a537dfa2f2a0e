"""Training data for Keras: the steps of a ``sam_core.training.BatchSource`` as a ``tf.data.Dataset``.

Each element is one step's dict of ``BatchSource.arrays`` (the contract both backends train from), so
``model.fit(tf_dataset(source, steps))`` sees exactly the batches and prompts that the PyTorch trainer sees for the
same seed. The number of points N varies from step to step; the other dimensions are fixed by the source.

Shape legend: B images, P prompts per image, N points per prompt, R corrective rounds, S input side, L mask frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
import tensorflow as tf

from sam_core.training.source import BatchSource, split_arrays

#: Arrays whose axis 2 is the point count N (varies per step).
_POINT_ARRAYS = ("input_points", "input_labels")


def _signature(arrays: Mapping[str, np.ndarray]) -> dict[str, tf.TensorSpec]:
    specs = {}
    for name, value in arrays.items():
        shape = list(np.shape(value))
        if name in _POINT_ARRAYS:
            shape[2] = None
        specs[name] = tf.TensorSpec(shape, tf.as_dtype(np.asarray(value).dtype), name=name)
    return specs


def tf_dataset(
    source: BatchSource | Callable[[int], Mapping[str, np.ndarray]],
    steps: int,
    start_step: int = 0,
    *,
    micro_batches: int = 1,
) -> tf.data.Dataset:
    """The arrays of steps ``start_step .. start_step + steps - 1`` as a dataset (one element per step).

    Args:
        source: a BatchSource with a prompt mix (its ``arrays``), or any function step -> arrays dict.
        steps: how many steps.
        start_step: the first step (a resumed run continues from its step).
        micro_batches: split each step into this many elements of B / micro_batches images (for an optimizer
            with ``gradient_accumulation_steps=micro_batches``).

    Returns:
        A tf.data.Dataset of dicts (see ``sam_core.training.source.training_arrays``).

    Raises:
        ValueError: steps < 1, start_step < 0, or micro_batches not dividing the batch.
    """
    if int(steps) < 1 or int(start_step) < 0:
        raise ValueError(f"steps must be >= 1 and start_step >= 0, got steps={steps}, start_step={start_step}")
    arrays_of = source.arrays if isinstance(source, BatchSource) else source
    first = arrays_of(start_step)
    first_parts = split_arrays(first, micro_batches)

    def generate() -> Iterator[dict[str, np.ndarray]]:
        for step in range(start_step, start_step + steps):
            yield from first_parts if step == start_step else split_arrays(arrays_of(step), micro_batches)

    dataset = tf.data.Dataset.from_generator(generate, output_signature=_signature(first_parts[0]))
    # A known length: fit() then ends each epoch after the last step rather than running one more step on an
    # exhausted iterator (which, in graph mode, still advances the optimizer's iteration count).
    return dataset.apply(tf.data.experimental.assert_cardinality(steps * micro_batches))
