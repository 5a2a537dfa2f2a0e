"""Loading the command line's MODEL (a directory, a Hugging Face Hub id or a checkpoint file) for a backend.

Every local source goes through the converter's readers (``weights_convert.detect`` / ``read`` / ``settings``), in
memory: a transformers-layout directory (safetensors, .bin, sharded, tf_model.h5), a single safetensors / .bin /
tf h5 file, or Meta's segment-anything ``.pth`` all become canonical numpy weights plus a SamConfig, which the
chosen backend's ``load_state_into`` checks key by key and loads. No file is written. A Hub id is first fetched
into the Hugging Face cache (config.json and the first weight format found) and then read the same way.

Without --model, the model bundled at ``sam_core/data/default_model/`` (config.json + model.safetensors) is used as
soon as it exists; until then the caller gets a ModelError that says to pass --model.

Importing this module imports no framework; torch or TensorFlow is imported when a model is built.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import CONFIG_NAME, SamConfig
from .weights import SAFETENSORS_NAME

BACKENDS = ("torch", "tf")
#: The embedded default model (package data); picked up automatically once it lands.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "data" / "default_model"
DEFAULT_MODEL_FILES = (CONFIG_NAME, SAFETENSORS_NAME)
MODEL_HELP = "pass --model DIR (a transformers-layout directory), a Hugging Face Hub id, or a Meta .pth file"
#: Non-trainable tensors of the canonical state (the Fourier matrix is a buffer, shared by two keys).
BUFFER_SUFFIXES = ("positional_embedding",)


class ModelError(Exception):
    """Bad --model / --backend input; the message is one line for the user (the CLI exits 2)."""


@dataclass
class CheckpointContents:
    """A checkpoint read into canonical names, with its architecture.

    Attributes:
        path: the local file or directory read.
        config: the architecture (config.json, else inferred from the tensor shapes).
        config_origin: where the config came from, for messages.
        state: canonical key -> numpy array.
        layout: whose names the source used: "meta", "transformers" or "transformers-tf".
        container: "torch-pickle", "safetensors" or "keras-h5".
        files: the weight files read.
        notes: remarks of the config resolution (inferred values, Meta's decoder eps).
    """

    path: str
    config: SamConfig
    config_origin: str
    state: dict[str, np.ndarray]
    layout: str
    container: str
    files: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    @property
    def format(self) -> str:
        """A short name of the source format, e.g. "Meta .pth" or "safetensors"."""
        from weights_convert.read import META

        if self.layout == META:
            return "Meta .pth"
        return {"torch-pickle": "bin", "keras-h5": "tf_model.h5"}.get(self.container, self.container)


@dataclass
class LoadedModel:
    """A model ready for SamPredictor, and how it was found.

    Attributes:
        model: a sam_torch.SamModel (eval mode) or sam_tf.TFSamModel.
        backend: "torch" or "tf".
        spec: the --model value ("default" for the bundled model).
        source: the local path read.
        format: the source format ("safetensors", "Meta .pth", ...).
    """

    model: Any
    backend: str
    spec: str
    source: str
    format: str

    def describe(self) -> dict[str, str]:
        """JSON-ready summary for result files."""
        return {"spec": self.spec, "path": self.source, "format": self.format}


def _one_line(error: BaseException) -> str:
    from weights_convert.errors import one_line

    return one_line(error)


def installed_backends() -> list[str]:
    """The backends whose framework is importable (judged without importing it)."""
    found = []
    if importlib.util.find_spec("torch") is not None:
        found.append("torch")
    if importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("keras") is not None:
        found.append("tf")
    return found


def resolve_backend(name: str | None) -> str:
    """The backend to use: ``name``, or torch if installed, otherwise tf.

    Raises:
        ModelError: an unknown name, or a backend whose framework is not installed.
    """
    installed = installed_backends()
    if name is None:
        if not installed:
            raise ModelError("no backend is installed: pip install 'dualsam[torch]' or 'dualsam[tf]'")
        return installed[0]
    if name not in BACKENDS:
        raise ModelError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name not in installed:
        extra = "torch" if name == "torch" else "tf"
        raise ModelError(f"backend {name} is not installed: pip install 'dualsam[{extra}]'")
    return name


def default_model_dir() -> Path | None:
    """The bundled default model directory, or None while it is not part of the package."""
    if all((DEFAULT_MODEL_DIR / name).is_file() for name in DEFAULT_MODEL_FILES):
        return DEFAULT_MODEL_DIR
    return None


def _fetch_hub(repo_id: str) -> str:
    """Downloads config.json (+ preprocessor config) and the first weight format found; returns the local dir."""
    from weights_convert.detect import DIRECTORY_WEIGHTS

    from . import weights
    from .hub import resolve_file
    from .image_processing import IMAGE_PROCESSOR_NAME

    config_path = resolve_file(repo_id, CONFIG_NAME)
    resolve_file(repo_id, IMAGE_PROCESSOR_NAME, required=False)
    for name, _ in DIRECTORY_WEIGHTS:
        path = resolve_file(repo_id, name, required=False)
        if path is None:
            continue
        if name.endswith(".index.json"):
            for shard in weights.sharded_files(path):
                resolve_file(repo_id, shard)
        return os.path.dirname(config_path)
    raise ModelError(f"hub repository {repo_id} holds no SAM weights ({', '.join(n for n, _ in DIRECTORY_WEIGHTS)})")


def locate_model(spec: str | None) -> tuple[str, str]:
    """(spec as reported, local path) for --model: a local file or directory, a Hub id, or the default model.

    Raises:
        ModelError: no --model and no bundled default, a local path that does not exist, or a Hub failure.
    """
    if spec is None:
        default = default_model_dir()
        if default is None:
            raise ModelError(f"no model given and no default model is bundled yet: {MODEL_HELP}")
        return "default", str(default)
    from .hub import _looks_like_local_path

    if os.path.exists(spec):
        return spec, spec
    if _looks_like_local_path(spec) or spec.lower().endswith((".pth", ".pt", ".bin", ".safetensors", ".h5")):
        raise ModelError(f"model {spec} does not exist ({MODEL_HELP})")
    try:
        return spec, _fetch_hub(spec)
    except ModelError:
        raise
    except Exception as error:  # huggingface_hub raises many kinds (offline, not found, gated, no package)
        raise ModelError(f"cannot fetch {spec!r} from the Hugging Face Hub: {_one_line(error)}") from error


def read_checkpoint(path: str, config: str | None = None) -> CheckpointContents:
    """Reads a local model directory or weight file into canonical numpy weights and a config.

    Args:
        path: a transformers-layout directory or a single weight file (Meta .pth, safetensors, .bin, h5).
        config: --config: a preset name or config.json path; None: the directory's config.json, else the
            architecture inferred from the shapes (enough for Meta's and SlimSAM's checkpoints).

    Raises:
        ModelError: nothing readable there, unsafe pickles, unknown key naming, or no usable architecture.
    """
    from weights_convert.detect import locate
    from weights_convert.errors import ConvertError
    from weights_convert.read import read_source
    from weights_convert.settings import resolve_config

    try:
        source = locate(path)
        read = read_source(source)
        shapes = {k: tuple(v.shape) for k, v in read.state.items()}
        config, origin, notes = resolve_config(config, source, read.layout, shapes)
    except (ConvertError, OSError, ValueError) as error:
        raise ModelError(f"cannot read model {path}: {_one_line(error)}") from error
    except ImportError as error:
        raise ModelError(f"reading {path} needs a package that is missing: {_one_line(error)}") from error
    return CheckpointContents(
        path, config, origin, read.state, read.layout, source.container, source.files, notes
    )  # fmt: skip


def build_model(contents: CheckpointContents, backend: str) -> Any:
    """A ``backend`` model of ``contents.config`` with ``contents.state`` loaded (every key and shape checked).

    Raises:
        ModelError: the framework fails to import, or the weights do not fit the architecture.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    try:
        if backend == "torch":
            from sam_torch import SamModel as model_class
            from sam_torch.pretrained import load_state_into
        else:
            from sam_tf import TFSamModel as model_class
            from sam_tf.pretrained import load_state_into
    except ImportError as error:
        raise ModelError(f"backend {backend} cannot be imported: {_one_line(error)}") from error
    model = model_class(contents.config)
    try:
        load_state_into(model, contents.state, source=contents.path)
    except ValueError as error:
        raise ModelError(_one_line(error)) from error
    if backend == "torch":
        model.eval()
    return model


def load_model(spec: str | None, backend: str | None, config: str | None = None) -> LoadedModel:
    """Resolves the backend, finds and reads MODEL, and builds the model.

    Args:
        spec: --model (a directory, Hub id, or weight file such as Meta's .pth); None for the bundled default.
        backend: "torch", "tf", or None for torch if installed, otherwise tf.
        config: --config (a preset name or config.json) overriding the checkpoint's architecture.

    Raises:
        ModelError: any bad input, as one line.
    """
    backend = resolve_backend(backend)
    spec, path = locate_model(spec)
    contents = read_checkpoint(path, config)
    return LoadedModel(build_model(contents, backend), backend, spec, os.path.abspath(path), contents.format)
