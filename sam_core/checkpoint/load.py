"""The one checkpoint reader: every source a model can be loaded from, into canonical numpy weights and a config.

Sources: a transformers-layout directory (safetensors, sharded safetensors, ``pytorch_model.bin`` and its shards,
``tf_model.h5``), a single weight file (safetensors, a torch pickle, a Keras weights h5), Meta's segment-anything
``.pth`` (architecture inferred from the tensor shapes), and Hugging Face Hub ids (fetched into the Hub cache, then
read like a directory). ``SamModel.from_pretrained``, ``TFSamModel.from_pretrained``, the converter and the command
line all read through :func:`read_checkpoint`; torch pickles are read by ``sam_core.torch_pickle`` (tensors only,
no code runs), so no framework is needed to read anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import weights
from ..config import CONFIG_NAME, SamConfig
from ..errors import one_line
from ..hub import _looks_like_local_path, resolve_file
from ..image_processing import IMAGE_PROCESSOR_NAME
from ..weights import CheckpointError
from .files import DIRECTORY_WEIGHTS, KERAS_H5, TORCH_PICKLE, Source, locate
from .read import META, read_source
from .resolve import resolve_config

#: File name endings that can only mean a local weight file (never a Hub id).
WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".h5")


@dataclass
class CheckpointContents:
    """A checkpoint read into canonical names, with its architecture.

    Attributes:
        path: the local file or directory read.
        config: the architecture (given, config.json, or inferred from the tensor shapes).
        config_origin: where the config came from, for messages.
        state: canonical key -> numpy array (torch layout; tied copies filled in).
        layout: whose names the source used: "meta", "transformers" or "transformers-tf".
        container: "torch-pickle", "safetensors" or "keras-h5".
        files: the weight files read.
        notes: remarks of the config resolution (inferred values, Meta's decoder eps).
        origin: canonical key -> the source's own key (for messages).
        dropped: source tensors that are not model weights (Meta's pixel_mean / pixel_std).
        source: the located source (its config and processor files).
    """

    path: str
    config: SamConfig
    config_origin: str
    state: dict[str, np.ndarray]
    layout: str
    container: str
    files: tuple[str, ...]
    notes: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, np.ndarray] = field(default_factory=dict)
    source: Source | None = None

    @property
    def format(self) -> str:
        """A short name of the source format, e.g. "Meta .pth", "safetensors", "bin" or "tf_model.h5"."""
        if self.layout == META:
            return "Meta .pth"
        return {TORCH_PICKLE: "bin", KERAS_H5: "tf_model.h5"}.get(self.container, self.container)


def fetch_hub(repo_id: str, **hub_kwargs: Any) -> str:
    """Downloads config.json (+ preprocessor config) and the first weight format found; returns the local dir.

    Raises:
        CheckpointError: the repository holds no SAM weights.
        ImportError / huggingface_hub errors: no package, offline, not found.
    """
    config_path = resolve_file(repo_id, CONFIG_NAME, **hub_kwargs)
    resolve_file(repo_id, IMAGE_PROCESSOR_NAME, required=False, **hub_kwargs)
    for name, _ in DIRECTORY_WEIGHTS:
        path = resolve_file(repo_id, name, required=False, **hub_kwargs)
        if path is None:
            continue
        if name.endswith(".index.json"):
            for shard in weights.sharded_files(path):
                resolve_file(repo_id, shard, **hub_kwargs)
        return os.path.dirname(config_path)
    names = ", ".join(n for n, _ in DIRECTORY_WEIGHTS)
    raise CheckpointError(f"hub repository {repo_id} holds no SAM weights ({names})")


def local_path(name_or_path: str | os.PathLike, **hub_kwargs: Any) -> str:
    """A local file or directory for ``name_or_path``: itself when it exists, else a Hub download.

    Raises:
        CheckpointError: a path that cannot be a Hub id does not exist, or the Hub download failed.
    """
    name = os.fspath(name_or_path)
    if os.path.exists(name):
        return name
    if _looks_like_local_path(name) or name.lower().endswith(WEIGHT_FILE_SUFFIXES):
        raise CheckpointError(f"{name} does not exist")
    try:
        return fetch_hub(name, **hub_kwargs)
    except CheckpointError:
        raise
    except Exception as error:  # huggingface_hub raises many kinds (offline, not found, gated, no package)
        raise CheckpointError(f"cannot fetch {name!r} from the Hugging Face Hub: {one_line(error)}") from error


def read_checkpoint(
    name_or_path: str | os.PathLike, config: SamConfig | str | None = None, **hub_kwargs: Any
) -> CheckpointContents:
    """Reads any SAM checkpoint into canonical numpy weights and its config.

    Args:
        name_or_path: a transformers-layout directory, a single weight file (Meta .pth, safetensors, .bin, h5) or a
            Hugging Face Hub id.
        config: a SamConfig, a preset name or a config.json path overriding the checkpoint's architecture; None:
            the directory's config.json, else the architecture inferred from the shapes.
        **hub_kwargs: passed to the Hub download (revision, token, cache_dir, local_files_only, ...).

    Raises:
        CheckpointError: nothing readable there, an unsafe pickle, unknown key naming, or no usable architecture.
    """
    path = local_path(name_or_path, **hub_kwargs)
    try:
        source = locate(path)
        read = read_source(source)
        shapes = {k: tuple(v.shape) for k, v in read.state.items()}
        resolved, origin, notes = resolve_config(config, source, read.layout, shapes)
    except CheckpointError:
        raise
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read {path}: {one_line(error)}") from error
    state = weights.fill_tied_keys(dict(read.state))
    return CheckpointContents(
        path=path, config=resolved, config_origin=origin, state=state, layout=read.layout,
        container=source.container, files=source.files, notes=notes, origin=read.origin, dropped=read.dropped,
        source=source,
    )  # fmt: skip
