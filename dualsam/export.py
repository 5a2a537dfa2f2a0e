"""The export use case: load MODEL with the framework an exporter needs and write an export directory that a
runtime backend (``dualsam.runtimes``) runs. The CLI (``dualsam export``) only parses and prints.

Formats: "onnx" (``sam_torch.onnx_export``: encoder.onnx, decoder.onnx with Meta's decoder signature,
decoder_lowres.onnx for batches of prompts, optional int8 twins, dualsam_export.json), exported from the torch
backend and checked against it with ONNX Runtime; "tflite" (``sam_tf.tflite_export``: the same three graphs as
.tflite files), exported from the Keras backend and checked against it with LiteRT; "savedmodel"
(``sam_tf.export.export_savedmodel``: the Keras model's ``serve`` endpoint), loaded back and checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .models import ModelError, load_model

#: Export format -> the backend its exporter runs on.
FORMATS = {"onnx": "torch", "tflite": "tf", "savedmodel": "tf"}
QUANTIZATIONS = ("int8",)


class ExportFailedError(Exception):
    """The export's self-check failed (the exported graphs differ from the model); the message is one line."""


def export_model(
    spec: str | None,
    out: str,
    *,
    format: str = "onnx",
    quantize: str | None = None,
    config: str | None = None,
    backend: str | None = None,
    opset: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Any:
    """Exports MODEL to ``out`` and checks the export against the loaded model.

    Args:
        spec: --model (a directory, Hub id or weight file; None for the shipped default model).
        out: the export directory (created if needed).
        format: "onnx", "tflite" or "savedmodel".
        quantize: None or "int8" (extra ``*.int8.onnx`` / ``*.int8.tflite`` files; not for savedmodel).
        config: --config (a preset or config.json) for checkpoints without one.
        backend: the backend to load MODEL with; None or the format's own ("torch" for onnx, "tf" otherwise).
        opset: the ONNX opset (default: the exporter's, 17); onnx only.
        log: where progress and the check's comparison lines go.

    Returns:
        ``sam_core.export_manifest.ExportResult`` (directory, manifest, deviations).

    Raises:
        ModelError: bad input, as one line (unknown format or quantization, a backend the format cannot export
            from, an option the format does not take, a bad MODEL, the format's packages not installed).
        ExportFailedError: the exported graphs differ from the model above the tolerance.
    """
    if format not in FORMATS:
        raise ModelError(f"unknown export format {format!r}: choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ModelError(f"unknown quantization {quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    needed = FORMATS[format]
    if backend is not None and backend != needed:
        raise ModelError(f"the {format} export runs from the {needed} backend, not {backend}")
    if opset is not None and format != "onnx":
        raise ModelError(f"--opset applies to --format onnx only, not {format}")
    if quantize is not None and format == "savedmodel":
        raise ModelError("--quantize applies to --format onnx or tflite, not savedmodel")
    loaded = load_model(spec, needed, config)
    from sam_core.export_check import ExportCheckError

    try:
        return _EXPORTERS[format](loaded.model, out, quantize=quantize, opset=opset, log=log)
    except ImportError as error:
        raise ModelError(" ".join(str(error).split())) from error
    except ValueError as error:
        raise ModelError(" ".join(str(error).split())) from error
    except ExportCheckError as error:
        raise ExportFailedError(" ".join(str(error).split())) from error


def _export_onnx(model: Any, out: str, *, quantize: str | None, opset: int | None, log: Any) -> Any:
    from sam_torch.onnx_export import DEFAULT_OPSET, export_onnx

    opset = DEFAULT_OPSET if opset is None else int(opset)
    return export_onnx(model.float(), out, opset=opset, quantize=quantize, log=log)


def _export_tflite(model: Any, out: str, *, quantize: str | None, opset: int | None, log: Any) -> Any:
    from sam_tf.tflite_export import export_tflite

    return export_tflite(model, out, quantize=quantize, log=log)


def _export_savedmodel(model: Any, out: str, *, quantize: str | None, opset: int | None, log: Any) -> Any:
    from sam_tf.export import export_savedmodel

    return export_savedmodel(model, out, log=log)


_EXPORTERS = {"onnx": _export_onnx, "tflite": _export_tflite, "savedmodel": _export_savedmodel}
