"""Twin SAM models for the Keras backend: sam_tf.TFSamModel and sam_torch.SamModel on the same informative weights."""

from __future__ import annotations

import numpy as np
import torch

from sam_core import SamConfig
from sam_tf import TFSamModel
from sam_tf.pretrained import load_state_into
from sam_torch import SamModel
from tests.helpers.sam_weights import informative_state


def make_tf_twins(config: SamConfig, seed: int = 0) -> tuple[TFSamModel, SamModel, dict[str, np.ndarray]]:
    """Ours on Keras and ours on torch with identical informative weights (loaded through sam_core.layouts)."""
    reference = SamModel(config)
    state = informative_state({k: tuple(v.shape) for k, v in reference.state_dict().items()}, seed=seed)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    ours = TFSamModel(config)
    load_state_into(ours, state, source="informative_state")
    return ours, reference, state


def torch_inputs(inputs: dict) -> dict:
    """The same model inputs as torch tensors (numpy / tf values converted; other values kept)."""
    out = {}
    for key, value in inputs.items():
        if hasattr(value, "numpy") or isinstance(value, np.ndarray):
            out[key] = torch.from_numpy(np.array(value))
        else:
            out[key] = value
    return out
