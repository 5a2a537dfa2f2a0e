"""Finding and reading a checkpoint's weight files (local directory or hub id), framework-free.

Each backend passes its ordered readers; a ``*.index.json`` entry reads every shard it lists with the reader
for the shard's own file type.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import weights
from .hub import resolve_file

Reader = Callable[[str], dict[str, np.ndarray]]

#: The weight files of a transformers torch checkpoint, in the order they are preferred.
TORCH_FILES = (
    weights.SAFETENSORS_NAME,
    weights.SAFETENSORS_INDEX_NAME,
    weights.TORCH_BIN_NAME,
    weights.TORCH_BIN_INDEX_NAME,
)


def read_checkpoint(
    name_or_path: str | os.PathLike, readers: Mapping[str, Reader], **hub_kwargs: Any
) -> dict[str, np.ndarray]:
    """Reads the first weight file found, trying ``readers``' file names in order.

    Args:
        name_or_path: a local directory or a hub id.
        readers: file name -> reader of that file; an index name (``*.index.json``) maps to the reader of its
            shards.
        **hub_kwargs: passed to the hub download (revision, token, ...).

    Returns:
        The tensors as numpy arrays, keyed as the file holds them.
    """
    name = os.fspath(name_or_path)
    for file_name, reader in readers.items():
        path = resolve_file(name, file_name, required=False, **hub_kwargs)
        if path is None:
            continue
        if not file_name.endswith(".index.json"):
            return reader(path)
        state: dict[str, np.ndarray] = {}
        for shard in weights.sharded_files(path):
            state.update(reader(resolve_file(name, shard, **hub_kwargs)))
        return state
    raise FileNotFoundError(f"no weights in {name}: looked for {', '.join(readers)}")
