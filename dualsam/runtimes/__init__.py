"""Runtime backends: ``sam_core.backend.PredictionBackend`` implementations on inference runtimes instead of a
framework, loaded from an export directory (``dualsam export``). Each imports its runtime lazily, behind an extra.

- ``OnnxBackend`` (``dualsam.runtimes.onnx_backend``): ONNX Runtime on ``encoder.onnx`` and
  ``decoder_lowres.onnx``; ``pip install 'dualsam[onnx]'``.
- ``TfliteBackend`` (``dualsam.runtimes.tflite_backend``): LiteRT (ai-edge-litert) on ``encoder.tflite`` and
  ``decoder_lowres.tflite``; ``pip install 'dualsam[tflite]'``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

#: --backend name -> (module in this package, backend class).
RUNTIMES = {"onnx": ("onnx_backend", "OnnxBackend"), "tflite": ("tflite_backend", "TfliteBackend")}

__all__ = ["RUNTIMES", "OnnxBackend", "RuntimeMissingError", "TfliteBackend", "runtime_module"]


def runtime_module(name: str) -> ModuleType:
    """The module of runtime backend ``name`` ("onnx", "tflite"); importing it imports no runtime."""
    return importlib.import_module(f"{__name__}.{RUNTIMES[name][0]}")


def __getattr__(name: str) -> Any:
    if name == "RuntimeMissingError":
        from .export_backend import RuntimeMissingError

        return RuntimeMissingError
    for module, backend in RUNTIMES.values():
        if name == backend:
            return getattr(importlib.import_module(f"{__name__}.{module}"), backend)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
