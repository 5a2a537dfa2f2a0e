"""A step's training arrays (``sam_core.training.BatchSource.arrays``) on a torch device. The batches themselves
are built in ``sam_core.training.batch`` (``processor_for_config`` is re-exported here for older imports).
"""

from __future__ import annotations

import numpy as np
import torch

from sam_core.training.batch import processor_for_config

__all__ = ["as_tensors", "processor_for_config"]


def as_tensors(arrays: dict[str, np.ndarray], device: torch.device | str) -> dict[str, torch.Tensor]:
    """The training arrays as tensors on ``device`` (same dtypes; ``multimask`` stays a 0-d bool tensor)."""
    return {name: torch.from_numpy(np.ascontiguousarray(value)).to(device) for name, value in arrays.items()}
