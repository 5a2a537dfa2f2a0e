"""Resolving the command line's MODEL and backend, and building the model: what every use case (the CLI, batch
runs, a server) shares.

MODEL is a local directory, a weight file (Meta's .pth, safetensors, .bin, h5), a Hugging Face Hub id, or None for
the default model shipped in ``sam_core/data/default_model/``. Reading goes through sam_core's one checkpoint reader
(``sam_core.checkpoint.read_checkpoint``), in memory; the chosen backend's ``load_state_into`` checks every key and
shape. Importing this module imports no framework; torch or TensorFlow is imported when a model is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam_core.checkpoint import CheckpointContents
from sam_core.checkpoint import read_checkpoint as _read
from sam_core.checkpoint.load import local_path
from sam_core.config import CONFIG_NAME
from sam_core.errors import one_line
from sam_core.frameworks import BACKENDS as _BACKENDS
from sam_core.frameworks import BackendMissingError, install_hint, installed_backends, require_backend
from sam_core.onnx_signature import MANIFEST_NAME as EXPORT_MANIFEST
from sam_core.weights import SAFETENSORS_NAME, CheckpointError

from .resources import DEFAULT_MODEL_DIR

BACKENDS = tuple(_BACKENDS)
#: Runtime backends: they run an export directory (``dualsam export``), not a checkpoint (``dualsam.runtimes``).
RUNTIME_BACKENDS = ("onnx", "tflite")
EXPORT_HELP = (
    "pass --model EXPORT_DIR, a directory written by dualsam export MODEL --format onnx|tflite --out EXPORT_DIR"
)
DEFAULT_MODEL_FILES = (CONFIG_NAME, SAFETENSORS_NAME)
MODEL_HELP = "pass --model DIR (a transformers-layout directory), a Hugging Face Hub id, or a Meta .pth file"
#: Non-trainable tensors of the canonical state (the Fourier matrix is a buffer, shared by two keys).
BUFFER_SUFFIXES = ("positional_embedding",)
#: --dtype values -> the backends' compute dtypes (bf16: float32 weights, the image encoder's GEMMs in bfloat16).
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}

__all__ = [
    "BACKENDS", "DTYPES", "RUNTIME_BACKENDS", "CheckpointContents", "LoadedModel", "ModelError", "build_model",
    "default_model_dir", "installed_backends", "load_model", "load_runtime", "locate_model", "read_checkpoint",
    "resolve_backend",
]  # fmt: skip


class ModelError(Exception):
    """Bad --model / --backend input; the message is one line for the user (the CLI exits 2)."""


@dataclass
class LoadedModel:
    """A model ready for SamPredictor, and how it was found.

    Attributes:
        model: a sam_torch.SamModel (eval mode), a sam_tf.TFSamModel, or a runtime PredictionBackend.
        backend: "torch", "tf", "onnx" or "tflite".
        spec: the --model value ("default" for the shipped model).
        source: the local path read.
        format: the source format ("safetensors", "Meta .pth", ...).
        dtype: "fp32" or "bf16" (--dtype).
    """

    model: Any
    backend: str
    spec: str
    source: str
    format: str
    dtype: str = "fp32"

    def describe(self) -> dict[str, str]:
        """JSON-ready summary for result files."""
        return {"spec": self.spec, "path": self.source, "format": self.format, "dtype": self.dtype}


def resolve_backend(name: str | None) -> str:
    """The backend to use: ``name`` (a framework or a runtime backend), or torch if installed, otherwise tf.

    Raises:
        ModelError: an unknown name, or a backend whose framework is not installed (with the pip line).
    """
    installed = installed_backends()
    if name is None:
        if not installed:
            raise ModelError(f"no backend is installed: {install_hint('torch')} or {install_hint('tf')}")
        return installed[0]
    if name in RUNTIME_BACKENDS:
        from .runtimes import runtime_module

        runtime = runtime_module(name)
        if not runtime.is_available():
            raise ModelError(f"backend {name} is not installed: {runtime.INSTALL_HINT}")
        return name
    if name not in BACKENDS:
        raise ModelError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS + RUNTIME_BACKENDS)}")
    if name not in installed:
        raise ModelError(f"backend {name} is not installed: {install_hint(name)}")
    return name


def default_model_dir() -> Path | None:
    """The shipped default model directory, or None when its files are missing (a broken install)."""
    if all((DEFAULT_MODEL_DIR / name).is_file() for name in DEFAULT_MODEL_FILES):
        return DEFAULT_MODEL_DIR
    return None


def locate_model(spec: str | None) -> tuple[str, str]:
    """(spec as reported, local path) for --model: a local file or directory, a Hub id, or the default model.

    Raises:
        ModelError: no --model and no default model files, a local path that does not exist, or a Hub failure.
    """
    if spec is None:
        default = default_model_dir()
        if default is None:
            raise ModelError(f"no model given and the default model's files are missing from {DEFAULT_MODEL_DIR}: "
                             f"reinstall dualsam, or {MODEL_HELP}")  # fmt: skip
        return "default", str(default)
    try:
        return spec, local_path(spec)
    except CheckpointError as error:
        message = one_line(error)
        if message.endswith("does not exist"):
            message = f"model {message} ({MODEL_HELP})"
        raise ModelError(message) from error


def read_checkpoint(path: str, config: str | None = None) -> CheckpointContents:
    """Reads a local model directory or weight file (``sam_core.checkpoint.read_checkpoint``), errors as ModelError.

    Args:
        path: a transformers-layout directory or a single weight file (Meta .pth, safetensors, .bin, h5).
        config: --config: a preset name or config.json path; None: the checkpoint's own.
    """
    try:
        return _read(path, config)
    except (CheckpointError, OSError) as error:
        raise ModelError(f"cannot read model {path}: {one_line(error)}") from error


def check_dtype(dtype: str | None, backend: str | None = None) -> str:
    """--dtype: "fp32" (also for None) or "bf16", which runs on the torch and tf backends only.

    Raises:
        ModelError: another value, or bf16 with a runtime backend (its export runs in float32).
    """
    dtype = "fp32" if dtype is None else dtype
    if dtype not in DTYPES:
        raise ModelError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if dtype != "fp32" and backend in RUNTIME_BACKENDS:
        raise ModelError(f"--dtype {dtype} runs on --backend torch or tf: a {backend} export runs in float32")
    return dtype


def build_model(contents: CheckpointContents, backend: str, dtype: str = "fp32") -> Any:
    """A ``backend`` model of ``contents.config`` with ``contents.state`` loaded (every key and shape checked).

    Args:
        dtype: "fp32", or "bf16": float32 weights, the image encoder's GEMMs in bfloat16 (sam_torch.precision,
            sam_tf.precision).

    Raises:
        ModelError: the framework is missing or fails to import, the weights do not fit the architecture, or a
            bad dtype.
    """
    dtype = check_dtype(dtype, backend)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    try:
        require_backend(backend)
        if backend == "torch":
            from sam_torch import SamModel as model_class
            from sam_torch.precision import set_compute_dtype
            from sam_torch.pretrained import load_state_into
        else:
            from sam_tf import TFSamModel as model_class
            from sam_tf.precision import set_compute_dtype
            from sam_tf.pretrained import load_state_into
    except (ImportError, BackendMissingError) as error:
        raise ModelError(f"backend {backend} cannot be imported: {one_line(error)}") from error
    model = model_class(contents.config)
    try:
        load_state_into(model, contents.state, source=contents.path)
    except ValueError as error:
        raise ModelError(one_line(error)) from error
    set_compute_dtype(model, DTYPES[dtype])
    if backend == "torch":
        model.eval()
    return model


def load_model(
    spec: str | None, backend: str | None, config: str | None = None, dtype: str | None = None
) -> LoadedModel:
    """Resolves the backend, finds and reads MODEL, and builds the model.

    Args:
        spec: --model (a directory, Hub id, or weight file such as Meta's .pth); None for the default model; for
            backend "onnx" or "tflite", an export directory.
        backend: "torch", "tf", "onnx", "tflite", or None for torch if installed, otherwise tf.
        config: --config (a preset name or config.json) overriding the checkpoint's architecture.
        dtype: --dtype: "fp32" (None too) or "bf16" (torch and tf; see build_model).

    Raises:
        ModelError: any bad input, as one line.
    """
    backend = resolve_backend(backend)
    dtype = check_dtype(dtype, backend)
    if backend in RUNTIME_BACKENDS:
        return load_runtime(spec, backend, config)
    spec, path = locate_model(spec)
    if os.path.isfile(os.path.join(path, EXPORT_MANIFEST)):
        found = _read_export_format(path)
        if found in RUNTIME_BACKENDS:
            raise ModelError(f"{spec} is a {found} export (dualsam export): run it with --backend {found}")
        raise ModelError(f"{spec} is a {found} export (dualsam export), not a model: pass the model it came from")
    contents = read_checkpoint(path, config)
    model = build_model(contents, backend, dtype)
    return LoadedModel(model, backend, spec, os.path.abspath(path), contents.format, dtype)


def load_runtime(spec: str | None, backend: str, config: str | None = None) -> LoadedModel:
    """A runtime backend ("onnx", "tflite") on the export directory ``spec``.

    Raises:
        ModelError: no export directory, --config given (the export holds its config), or a bad export.
    """
    from .runtimes import RUNTIMES, runtime_module
    from .runtimes.export_backend import ExportDirectoryError, RuntimeMissingError

    if spec is None:
        raise ModelError(f"--backend {backend} runs an exported model: {EXPORT_HELP}")
    if config is not None:
        raise ModelError(f"--config does not apply to --backend {backend}: the export's {EXPORT_MANIFEST} holds it")
    if not os.path.isdir(spec):
        raise ModelError(f"--backend {backend}: {spec} is not a directory; {EXPORT_HELP}")
    try:
        runtime = getattr(runtime_module(backend), RUNTIMES[backend][1])(spec)
    except (ExportDirectoryError, RuntimeMissingError) as error:
        raise ModelError(one_line(error)) from error
    return LoadedModel(runtime, backend, spec, os.path.abspath(spec), f"{backend} export")


def _read_export_format(path: str) -> str:
    """The "format" of the export directory ``path`` ("onnx" for the first ONNX exports, which wrote none)."""
    from sam_core.onnx_signature import read_manifest

    try:
        return str(read_manifest(path).get("format", "onnx"))
    except ValueError:
        return "unreadable"
