"""Reading and writing the Keras 2 weights-h5 layout (what transformers 4.x ``TFPreTrainedModel`` saves) with h5py.

The file holds a ``layer_names`` attribute; each top-level layer has a group with a ``weight_names`` attribute, and
each weight lives at ``group/weight_name`` (the name's slashes make nested groups). Attributes over HDF5's header
limit are split into ``name0``, ``name1``, ... as Keras 2 does. Keras 3 cannot read this layout, hence h5py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from .atomic import atomic_path

#: HDF5 object headers hold at most 64 KiB; Keras 2 splits larger attributes at this many bytes.
HDF5_OBJECT_HEADER_LIMIT = 64512
#: Written as the file's ``keras_version``: the Keras 2 weights layout (this writer is not Keras itself).
KERAS_2_LAYOUT_VERSION = "2"


def _read_names(group, name: str) -> list[str]:
    """A string-list attribute, joined from its chunks when it was split."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _write_names(group, name: str, values: list[str]) -> None:
    encoded = np.asarray([v.encode("utf8") for v in values]) if values else np.asarray([], dtype=np.float64)
    chunks = 1
    while encoded.nbytes / chunks > HDF5_OBJECT_HEADER_LIMIT:
        chunks += 1
    if chunks == 1:
        group.attrs[name] = encoded
        return
    for index, part in enumerate(np.array_split(encoded, chunks)):
        group.attrs[f"{name}{index}"] = part


def read_keras_h5(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Reads every weight of a Keras 2 weights h5 as layer group -> weight name -> array.

    Raises:
        ValueError: the file is not an HDF5 file, or not in the Keras 2 layout (e.g. a Keras 3 ``.weights.h5``).
    """
    import h5py

    path = os.fspath(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path} is not a readable HDF5 file (truncated or corrupt?): {error}") from error
    with handle:
        if "layer_names" not in handle.attrs and "layer_names0" not in handle.attrs:
            raise ValueError(f"{path} is not a Keras 2 weights file (no 'layer_names' attribute)")
        out: dict[str, dict[str, np.ndarray]] = {}
        for layer in _read_names(handle, "layer_names"):
            group = handle[layer]
            out[layer] = {name: np.asarray(group[name]) for name in _read_names(group, "weight_names")}
        return out


def write_keras_h5(groups: Mapping[str, Mapping[str, np.ndarray]], path: str | os.PathLike) -> None:
    """Writes layer group -> weight name -> array in the Keras 2 layout, atomically."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            _write_names(handle, "layer_names", list(groups))
            handle.attrs["backend"] = b"tensorflow"
            handle.attrs["keras_version"] = KERAS_2_LAYOUT_VERSION.encode("utf8")
            for layer, tensors in list(groups.items()) + [("top_level_model_weights", {})]:
                group = handle.create_group(layer)
                _write_names(group, "weight_names", list(tensors))
                for name, value in tensors.items():
                    value = np.ascontiguousarray(value)
                    group.create_dataset(name, value.shape, dtype=value.dtype)[...] = value
