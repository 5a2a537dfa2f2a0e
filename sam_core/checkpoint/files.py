"""Finds what a checkpoint is from its content, never from its file name.

A source is a single file (a torch pickle such as Meta's ``sam_vit_b_01ec64.pth`` or a ``pytorch_model.bin``, a
``.safetensors`` file, or a Keras 2 weights h5) or a directory in the transformers layout (``model.safetensors``,
``pytorch_model.bin``, either sharded, or ``tf_model.h5``; dualsam's TF models save the same layout). The file kind
comes from its first bytes; whether the tensors use Meta's or transformers' names is decided after reading them
(see ``read.py``).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from .. import weights
from ..config import CONFIG_NAME
from ..image_processing import IMAGE_PROCESSOR_NAME
from ..weights import CheckpointError

#: File containers, by magic bytes.
TORCH_PICKLE, SAFETENSORS, KERAS_H5 = "torch-pickle", "safetensors", "keras-h5"

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
#: The one table of a transformers-layout directory's weight files and their containers, in the order they are
#: preferred: safetensors (single, sharded), torch pickles (single, sharded), then the Keras h5.
DIRECTORY_WEIGHTS: tuple[tuple[str, str], ...] = (
    (weights.SAFETENSORS_NAME, SAFETENSORS),
    (weights.SAFETENSORS_INDEX_NAME, SAFETENSORS),
    (weights.TORCH_BIN_NAME, TORCH_PICKLE),
    (weights.TORCH_BIN_INDEX_NAME, TORCH_PICKLE),
    (weights.TF_H5_NAME, KERAS_H5),
)


@dataclass(frozen=True)
class Source:
    """A located checkpoint.

    Attributes:
        path: the file or directory given.
        container: TORCH_PICKLE, SAFETENSORS or KERAS_H5.
        files: the weight files to read (several for a sharded checkpoint).
        config_path: the directory's config.json, if any.
        processor_path: the directory's preprocessor_config.json, if any.
        note: how the source was recognised, for messages and the manifest.
    """

    path: str
    container: str
    files: tuple[str, ...]
    config_path: str | None = None
    processor_path: str | None = None
    note: str = ""


def sniff(path: str) -> str:
    """The container of one file from its first bytes.

    Raises:
        CheckpointError: the file is empty, unreadable, or none of the known kinds.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror or error}") from error
    if not head:
        raise CheckpointError(f"{path} is empty")
    if head.startswith(_HDF5_MAGIC):
        return KERAS_H5
    if head.startswith(_ZIP_MAGIC):
        return TORCH_PICKLE  # torch.save's zip container
    if len(head) >= 9 and head[8:9] == b"{":
        (header_size,) = struct.unpack("<Q", head[:8])
        if header_size > os.path.getsize(path) - 8:
            raise CheckpointError(f"{path} looks like a truncated safetensors file (header of {header_size} bytes)")
        return SAFETENSORS
    if head[:1] == b"\x80":
        return TORCH_PICKLE  # torch.save's legacy pickle stream
    raise CheckpointError(f"{path} is not a torch checkpoint, safetensors or HDF5 file (unrecognised first bytes)")


def _optional(directory: str, name: str) -> str | None:
    path = os.path.join(directory, name)
    return path if os.path.isfile(path) else None


def _directory_source(directory: str) -> Source:
    for name, container in DIRECTORY_WEIGHTS:
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        if name.endswith(".index.json"):
            try:
                shards = weights.sharded_files(path)
            except (ValueError, OSError) as error:
                raise CheckpointError(str(error)) from error
            files = tuple(os.path.join(directory, shard) for shard in shards)
            missing = [f for f in files if not os.path.isfile(f)]
            if missing:
                names = ", ".join(map(os.path.basename, missing))
                raise CheckpointError(f"{path} lists shards that are missing: {names}")
        else:
            files = (path,)
        for file in files:
            found = sniff(file)
            if found != container:
                raise CheckpointError(f"{file} holds {found} data, not the {container} its name promises")
        return Source(
            path=directory,
            container=container,
            files=files,
            config_path=_optional(directory, CONFIG_NAME),
            processor_path=_optional(directory, IMAGE_PROCESSOR_NAME),
            note=f"transformers-layout directory ({name})",
        )
    names = ", ".join(name for name, _ in DIRECTORY_WEIGHTS)
    raise CheckpointError(f"{directory} holds no weights: looked for {names}")


def locate(path: str) -> Source:
    """Finds the weight files of ``path`` (a file or a transformers-layout directory) and their container.

    Raises:
        CheckpointError: the path does not exist, or holds nothing convertible.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return _directory_source(path)
    if not os.path.exists(path):
        raise CheckpointError(f"source {path} does not exist")
    container = sniff(path)
    return Source(path=path, container=container, files=(path,), note=f"single {container} file")
