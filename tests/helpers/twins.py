"""Twin SAM models, ours and transformers', loaded with the same informative random weights."""

from __future__ import annotations

import numpy as np
import torch

from sam_core import SamConfig
from sam_torch import SamModel
from tests.helpers.sam_weights import informative_state


def hf_config(config: SamConfig):
    """The transformers SamConfig equal to ours (through the config.json dict)."""
    import transformers

    return transformers.SamConfig(**config.to_dict())


def make_twins(config: SamConfig, seed: int = 0) -> tuple[SamModel, transformers.SamModel, dict[str, np.ndarray]]:  # noqa: F821
    """Ours and transformers' SamModel with identical informative weights; the reference runs eager attention
    so that it can report attention weights."""
    import transformers

    ours = SamModel(config)
    state = informative_state({k: tuple(v.shape) for k, v in ours.state_dict().items()}, seed=seed)
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    ours.load_state_dict(tensors, strict=True)
    reference = transformers.SamModel(hf_config(config)).eval()
    reference.load_state_dict(tensors, strict=True)
    return ours, reference, state
