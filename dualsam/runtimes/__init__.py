"""Runtime backends: ``sam_core.backend.PredictionBackend`` implementations on inference runtimes instead of a
framework, loaded from an export directory (``dualsam export``). Each imports its runtime lazily, behind an extra.

- ``OnnxBackend`` (``dualsam.runtimes.onnx_backend``): ONNX Runtime on ``encoder.onnx`` and ``decoder.onnx``;
  ``pip install 'dualsam[onnx]'``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OnnxBackend", "RuntimeMissingError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import onnx_backend

        return getattr(onnx_backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
