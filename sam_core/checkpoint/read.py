"""Reads a located checkpoint into canonical (transformers SamModel) names, keeping track of every source key.

Meta's names go through ``sam_core.weights.meta_to_canonical`` and transformers-TF h5 names through
``sam_core.layouts.hf_tf_to_canonical``: the renames and transposes are data declared there, shared with the
backends' own loaders. Which naming a file uses is decided from its keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .. import layouts, weights
from ..errors import one_line
from ..h5_layout import read_keras_h5
from ..torch_pickle import read_torch_pickle
from ..weights import CheckpointError
from .files import KERAS_H5, SAFETENSORS, TORCH_PICKLE, Source

META, TRANSFORMERS, TRANSFORMERS_TF = "meta", "transformers", "transformers-tf"
_IOU_LAYER = re.compile(r"^mask_decoder\.iou_prediction_head\.layers\.(\d+)\.")


@dataclass
class SourceState:
    """A source's tensors under canonical names.

    Attributes:
        state: canonical key -> array (source dtype; Keras tensors already in torch layout).
        layout: META, TRANSFORMERS or TRANSFORMERS_TF: whose names the source used.
        origin: canonical key -> the source key it came from (for messages).
        dropped: source keys that have no place in the model, with their values (Meta's pixel_mean/std).
    """

    state: dict[str, np.ndarray]
    layout: str
    origin: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, np.ndarray] = field(default_factory=dict)


def _read_flat(source: Source) -> dict[str, np.ndarray]:
    """Reads every file of a torch-pickle or safetensors source into one flat dict."""
    state: dict[str, np.ndarray] = {}
    for path in source.files:
        try:
            if source.container == SAFETENSORS:
                part = weights.read_safetensors(path)
            else:
                part = read_torch_pickle(path)
        except ValueError as error:
            raise CheckpointError(one_line(error)) from error
        duplicated = sorted(set(part) & set(state))
        if duplicated:
            raise CheckpointError(f"{path} repeats keys of another shard: {', '.join(duplicated[:5])}")
        state.update(part)
    if not state:
        raise CheckpointError(f"{source.path} holds no tensors")
    return state


def _read_h5(source: Source) -> SourceState:
    path = source.files[0]
    try:  # names outside the layout rule come back as "group/name" and are reported by the key check
        state = layouts.hf_tf_to_canonical(read_keras_h5(path))
    except (ValueError, OSError, KeyError) as error:
        message = f"{path} is not a readable Keras weights h5 (truncated or corrupt?): {one_line(error)}"
        raise CheckpointError(message) from error
    if not state:
        raise CheckpointError(f"{path} holds no weights")
    weights.fill_tied_keys(state)
    return SourceState(state, TRANSFORMERS_TF, {k: k for k in state})


def _layout_of(keys: list[str], path: str) -> str:
    meta = any(k.startswith("image_encoder.") for k in keys)
    canonical = any(k.startswith("vision_encoder.") for k in keys)
    if meta == canonical:
        sample = ", ".join(sorted(keys)[:3])
        raise CheckpointError(
            f"{path}: cannot tell the naming: expected Meta's (image_encoder.*) or transformers' (vision_encoder.*) "
            f"keys, found e.g. {sample}"
        )
    return META if meta else TRANSFORMERS


def _from_meta(flat: dict[str, np.ndarray]) -> SourceState:
    """Renames Meta's keys one by one, so that each canonical key remembers its source key."""
    dropped = {k: flat[k] for k in weights.META_DROPPED_KEYS if k in flat}
    depths = [int(m.group(1)) + 1 for m in map(_IOU_LAYER.match, flat) if m]
    mlp_depth = max(depths, default=3)
    state: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for key, value in flat.items():
        if key in dropped:
            continue
        for new, renamed in weights.meta_to_canonical({key: value}, mlp_depth=mlp_depth).items():
            if new in origin:
                raise CheckpointError(f"Meta keys {origin[new]} and {key} both map to {new}")
            state[new], origin[new] = renamed, key
    return SourceState(state, META, origin, dropped)


def read_source(source: Source) -> SourceState:
    """Reads ``source`` into canonical names.

    Raises:
        CheckpointError: unreadable, truncated or unsafe files (pickles that need more than tensors are refused),
            or keys in neither Meta's nor transformers' naming.
    """
    if source.container == KERAS_H5:
        return _read_h5(source)
    if source.container not in (SAFETENSORS, TORCH_PICKLE):
        raise CheckpointError(f"unsupported container {source.container}")
    flat = _read_flat(source)
    if _layout_of(list(flat), source.path) == META:
        return _from_meta(flat)
    weights.fill_tied_keys(flat)
    return SourceState(flat, TRANSFORMERS, {k: k for k in flat})
