"""Canonical weight names and checkpoint files, in numpy (no framework).

Canonical names are the transformers SamModel state-dict keys. Meta's segment-anything names map to them
through one declarative rename table, used by the converter and the in-memory loaders of both backends.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np

from .atomic import atomic_path

SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
TORCH_BIN_NAME = "pytorch_model.bin"
TORCH_BIN_INDEX_NAME = "pytorch_model.bin.index.json"
TF_H5_NAME = "tf_model.h5"

#: Tied tensors: the key on the left is a copy of the one on the right (transformers may save only one).
TIED_KEYS: dict[str, str] = {
    "prompt_encoder.shared_embedding.positional_embedding": "shared_image_embedding.positional_embedding",
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: unreadable, unsafe, of unknown naming, or not fitting the model.

    The one error type of checkpoint reading, in every backend and in the converter. When the keys do not fit,
    it lists the missing, unexpected and mis-shaped keys (in the checkpoint's own names where they differ).

    Args:
        message: what is wrong, when it is not a key mismatch.
        missing: model keys the checkpoint lacks.
        unexpected: checkpoint keys the model has no place for.
        mismatched: (key, checkpoint shape, model shape) triples.
        source: the checkpoint, for the message.
    """

    def __init__(
        self,
        message: str = "",
        *,
        missing: Sequence[str] = (),
        unexpected: Sequence[str] = (),
        mismatched: Sequence[tuple[str, tuple, tuple]] = (),
        source: str = "checkpoint",
    ) -> None:
        self.missing, self.unexpected, self.mismatched = list(missing), list(unexpected), list(mismatched)
        parts = [message] if message else []
        if self.missing or self.unexpected or self.mismatched:
            parts.append(f"{source} does not match the model:")
        if self.missing:
            parts.append(f"missing keys ({len(self.missing)}): {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected keys ({len(self.unexpected)}): {', '.join(self.unexpected)}")
        if self.mismatched:
            shapes = ", ".join(f"{k}: checkpoint {tuple(a)} vs model {tuple(b)}" for k, a, b in self.mismatched)
            parts.append(f"mis-shaped keys ({len(self.mismatched)}): {shapes}")
        super().__init__("\n  ".join(parts))


def fill_tied_keys(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Adds the tied copies that a checkpoint may omit (returns the same dict)."""
    for copy, source in TIED_KEYS.items():
        if copy not in state and source in state:
            state[copy] = state[source]
        elif source not in state and copy in state:
            state[source] = state[copy]
    return state


def check_state_shapes(
    expected: Mapping[str, tuple[int, ...]],
    found: Mapping[str, tuple[int, ...]],
    source: str = "checkpoint",
    origin: Mapping[str, str] | None = None,
) -> None:
    """Raises CheckpointError unless ``found`` has exactly the keys and shapes of ``expected``.

    Args:
        expected: canonical key -> the model's shape.
        found: canonical key -> the checkpoint's shape.
        source: the checkpoint, for the message.
        origin: canonical key -> the checkpoint's own name of it (Meta's names), used in the message.
    """
    name = (lambda key: origin.get(key, key)) if origin else (lambda key: key)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted({name(k) for k in set(found) - set(expected)})
    mismatched = [
        (name(k), tuple(found[k]), tuple(expected[k]))
        for k in sorted(set(expected) & set(found))
        if tuple(found[k]) != tuple(expected[k])
    ]
    if missing or unexpected or mismatched:
        raise CheckpointError(missing=missing, unexpected=unexpected, mismatched=mismatched, source=source)


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a .safetensors file into numpy arrays; a truncated or corrupt file raises ValueError."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(os.fspath(path)))
    except (SafetensorError, OSError, ValueError) as error:
        message = f"{os.fspath(path)} is not a readable safetensors file (truncated or corrupt?): {error}"
        raise ValueError(message) from error


def write_safetensors(state: Mapping[str, np.ndarray], path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Writes numpy arrays to ``path`` atomically (format "pt" metadata, as transformers writes it)."""
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(arrays, tmp, metadata={"format": "pt", **(metadata or {})})


def sharded_files(index_path: str | os.PathLike) -> list[str]:
    """The shard file names listed in a transformers ``*.index.json`` (in first-use order)."""
    with open(index_path, encoding="utf-8") as handle:
        try:
            weight_map = json.load(handle)["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{os.fspath(index_path)} is not a valid sharded-checkpoint index: {error}") from error
    return list(dict.fromkeys(weight_map.values()))


# Meta segment-anything -> canonical. Applied in order, each to the whole key; every rule is a published fact of
# the two layouts (see DESIGN.md). The inverse table is derived from this one.
META_TO_CANONICAL_RULES: list[tuple[str, str]] = [
    (r"^image_encoder\.", "vision_encoder."),
    (r"\.blocks\.", ".layers."),
    (r"\.patch_embed\.proj\.", ".patch_embed.projection."),
    (r"\.neck\.0\.", ".neck.conv1."),
    (r"\.neck\.1\.", ".neck.layer_norm1."),
    (r"\.neck\.2\.", ".neck.conv2."),
    (r"\.neck\.3\.", ".neck.layer_norm2."),
    (r"\.mask_downscaling\.0\.", ".mask_embed.conv1."),
    (r"\.mask_downscaling\.1\.", ".mask_embed.layer_norm1."),
    (r"\.mask_downscaling\.3\.", ".mask_embed.conv2."),
    (r"\.mask_downscaling\.4\.", ".mask_embed.layer_norm2."),
    (r"\.mask_downscaling\.6\.", ".mask_embed.conv3."),
    (r"\.output_upscaling\.0\.", ".upscale_conv1."),
    (r"\.output_upscaling\.1\.", ".upscale_layer_norm."),
    (r"\.output_upscaling\.3\.", ".upscale_conv2."),
    (r"\.point_embeddings\.", ".point_embed."),
    (r"\.norm(\d)\.", r".layer_norm\1."),
    (r"\.norm_final_attn\.", ".layer_norm_final_attn."),
    (r"\.pe_layer\.positional_encoding_gaussian_matrix$", ".shared_embedding.positional_embedding"),
]

# MLP heads: Meta numbers all linear layers; transformers names the first and last proj_in / proj_out.
_META_MLP = re.compile(r"^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.layers\.(\d+)\.(.*)$")
META_DROPPED_KEYS = ("pixel_mean", "pixel_std")


def meta_to_canonical(state: Mapping[str, np.ndarray], mlp_depth: int = 3) -> dict[str, np.ndarray]:
    """Renames a Meta segment-anything state dict to canonical keys.

    Args:
        state: Meta's keys (image_encoder.*, prompt_encoder.*, mask_decoder.*; pixel_mean/std are dropped).
        mlp_depth: number of linear layers in the iou head (the hypernetwork MLPs always have 3).

    Returns:
        Canonical keys, with the Gaussian matrix also copied to ``shared_image_embedding``.
    """
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if key in META_DROPPED_KEYS:
            continue
        new = key
        for pattern, replacement in META_TO_CANONICAL_RULES:
            new = re.sub(pattern, replacement, new)
        match = _META_MLP.match(new)
        if match:
            head, index, rest = match.group(1), int(match.group(2)), match.group(3)
            depth = mlp_depth if head.endswith("iou_prediction_head") else 3
            name = "proj_in" if index == 0 else "proj_out" if index == depth - 1 else f"layers.{index - 1}"
            new = f"{head}.{name}.{rest}"
        out[new] = value
    return fill_tied_keys(out)


def canonical_to_meta(state: Mapping[str, np.ndarray], mlp_depth: int = 3) -> dict[str, np.ndarray]:
    """The inverse of meta_to_canonical (the tied copy is written once, as Meta's prompt encoder holds it)."""
    inverse = [
        (r"\.layer_norm_final_attn\.", ".norm_final_attn."),
        (r"\.shared_embedding\.positional_embedding$", ".pe_layer.positional_encoding_gaussian_matrix"),
        (r"^vision_encoder\.", "image_encoder."),
        (r"\.layers\.(\d+)\.layer_norm(\d)\.", r".layers.\1.norm\2."),
        (r"^image_encoder\.layers\.", "image_encoder.blocks."),
        (r"\.patch_embed\.projection\.", ".patch_embed.proj."),
        (r"\.neck\.conv1\.", ".neck.0."),
        (r"\.neck\.layer_norm1\.", ".neck.1."),
        (r"\.neck\.conv2\.", ".neck.2."),
        (r"\.neck\.layer_norm2\.", ".neck.3."),
        (r"\.mask_embed\.conv1\.", ".mask_downscaling.0."),
        (r"\.mask_embed\.layer_norm1\.", ".mask_downscaling.1."),
        (r"\.mask_embed\.conv2\.", ".mask_downscaling.3."),
        (r"\.mask_embed\.layer_norm2\.", ".mask_downscaling.4."),
        (r"\.mask_embed\.conv3\.", ".mask_downscaling.6."),
        (r"\.upscale_conv1\.", ".output_upscaling.0."),
        (r"\.upscale_layer_norm\.", ".output_upscaling.1."),
        (r"\.upscale_conv2\.", ".output_upscaling.3."),
        (r"\.point_embed\.", ".point_embeddings."),
    ]
    mlp = re.compile(
        r"^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.(proj_in|proj_out|layers\.(\d+))\.(.*)$"
    )
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if key == "shared_image_embedding.positional_embedding":
            continue
        match = mlp.match(key)
        if match:
            head, part, inner, rest = match.groups()
            depth = mlp_depth if head.endswith("iou_prediction_head") else 3
            index = 0 if part == "proj_in" else depth - 1 if part == "proj_out" else int(inner) + 1
            key = f"{head}.layers.{index}.{rest}"
        for pattern, replacement in inverse:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out
