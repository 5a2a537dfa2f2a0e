"""Small SAM checkpoints in every source layout the converter reads, for the converter tests (no reference needed).

The weights are tests/sam_weights.py's informative random weights for the tiny config; the Meta layout is written
through sam_core.weights.canonical_to_meta (the Meta-parity tests use checkpoints that Meta's own code saved).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from sam_core import SamConfig, weights
from tests.helpers.sam_weights import informative_state, tiny_config


def tiny_state(seed: int = 0) -> tuple[SamConfig, dict[str, np.ndarray]]:
    """The tiny config and informative float32 weights under canonical names."""
    from sam_core.state_shapes import expected_shapes

    config = tiny_config()
    return config, informative_state(expected_shapes(config), seed=seed)


def write_meta_pth(path: str, state: dict[str, np.ndarray], extra: dict[str, np.ndarray] | None = None) -> str:
    """A Meta-layout .pth (torch.save of a plain tensor dict), with optional extra entries such as pixel_mean."""
    import torch

    meta = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.canonical_to_meta(state).items()}
    meta.update({k: torch.from_numpy(v) for k, v in (extra or {}).items()})
    torch.save(meta, path)
    return path


def write_hf_dir(directory: str, config: SamConfig, state: dict[str, np.ndarray]) -> str:
    """A transformers-layout torch directory: config.json + model.safetensors."""
    config.save_pretrained(directory)
    weights.write_safetensors(state, os.path.join(directory, weights.SAFETENSORS_NAME))
    return directory


def tree_digest(path: str) -> dict[str, str]:
    """relative path -> sha256 of every file under ``path`` (a file or a directory), plus its mtime_ns."""
    files = [path] if os.path.isfile(path) else [
        os.path.join(root, name) for root, _, names in os.walk(path) for name in names
    ]  # fmt: skip
    out = {}
    for file in sorted(files):
        with open(file, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
            out[os.path.relpath(file, path)] = f"{digest}:{os.stat(file).st_mtime_ns}"
    return out
