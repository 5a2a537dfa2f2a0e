"""Weight initialization of a fresh TFSamModel (pretrained loading overwrites all of it)."""

from __future__ import annotations

import keras

from sam_core import layouts
from sam_core.config import SamConfig

_NORMAL_KINDS = ("dense", "conv2d", "conv_transpose2d", "embedding")


def init_sam_weights(model: keras.Model, config: SamConfig) -> None:
    """Normal(0, initializer_range) for linear, conv and embedding weights; zero biases; unit layer norms;
    zero absolute and relative positions; a unit Gaussian Fourier matrix. Kinds come from sam_core.layouts."""
    std = config.initializer_range
    for variable in model.weights:
        key = layouts.canonical_key(variable.path)
        _, leaf, kind = layouts.split_key(key)
        shape = tuple(variable.shape)
        if key.endswith("positional_embedding"):
            value = keras.random.normal(shape, stddev=1.0)
        elif kind.name in _NORMAL_KINDS and leaf == "weight":
            value = keras.random.normal(shape, stddev=std)
        elif kind.name.startswith("layer_norm") and leaf == "weight":
            value = keras.ops.ones(shape)
        else:  # biases, pos_embed, rel_pos_h/w
            value = keras.ops.zeros(shape)
        variable.assign(value)
