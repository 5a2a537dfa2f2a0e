"""The LiteRT export's self-check: ai-edge-litert's interpreter on an export directory against the Keras model it
came from, on the fixed probe (``sam_core.export_check.compare_export``, the same probe and comparisons as the ONNX
export's check), each output within EXPORT_RTOL of the model's (the int8 files within INT8_RTOL).
ai-edge-litert is imported when needed (``pip install 'dualsam[tflite]'``).

Shape legend: K mask tokens, L low-res side (4 g).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from sam_core.export_check import ExportCheckError, case_inputs, compare_export, raise_on_failure
from sam_core.onnx_signature import DECODER_OUTPUTS, ENCODER_OUTPUTS, LOWRES_DECODER_OUTPUTS
from sam_core.probe import Deviation

#: LiteRT against the Keras model, relative to max(1, max|ref|): fp32 accumulation order differs.
EXPORT_RTOL = 1e-4
#: The int8 files (dynamic-range quantization: int8 weights, float activations) against the float Keras model,
#: relative to max(1, max|ref|). Weight rounding to 8 bits moves the logits by a few percent of their range on the
#: tiny random test models; a broken conversion moves them by more than their range.
INT8_RTOL = 0.1
INSTALL_HINT = "pip install 'dualsam[tflite]'"

__all__ = ["EXPORT_RTOL", "INSTALL_HINT", "INT8_RTOL", "Deviation", "ExportCheckError", "check_export",
           "import_litert", "reference_decode", "signature_runner"]  # fmt: skip


def import_litert() -> Any:
    """``ai_edge_litert.interpreter``, or an ImportError whose message is the one-line install hint."""
    try:
        from ai_edge_litert import interpreter
    except ImportError as error:
        raise ImportError(f"LiteRT export and the tflite backend need ai-edge-litert: {INSTALL_HINT}") from error
    return interpreter


def signature_runner(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """The ``serving_default`` signature runner of a .tflite file (inputs and outputs by name; it resizes dynamic
    inputs to the arrays it is given)."""
    interpreter = import_litert().Interpreter(model_path=os.fspath(path), num_threads=num_threads)
    return interpreter.get_signature_runner()


def reference_decode(model: keras.Model, embedding: Any, case: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Our model's forward on one probe case, every mask token: (1, K, L, L) logits and (1, K) IoUs."""
    kwargs = {"image_embeddings": embedding, **case_inputs(case)}
    single = model(**kwargs, multimask_output=False)
    multi = model(**kwargs, multimask_output=True)
    logits = np.concatenate([np.asarray(single.pred_masks), np.asarray(multi.pred_masks)], axis=2)[0]
    iou = np.concatenate([np.asarray(single.iou_scores), np.asarray(multi.iou_scores)], axis=2)[0]
    return logits.astype(np.float32), iou.astype(np.float32)


def check_export(
    directory: str | os.PathLike,
    model: keras.Model,
    *,
    files: dict[str, str],
    rtol: float = EXPORT_RTOL,
    log: Callable[[str], None] | None = None,
) -> list[Deviation]:
    """Runs the encoder, Meta-signature decoder and low-res decoder of ``directory`` with LiteRT on the probe and
    compares them with ``model``.

    Args:
        files: manifest key ("encoder", "decoder", "decoder_lowres") -> the .tflite file to run.
        rtol: the bound (EXPORT_RTOL for the float files, INT8_RTOL for the int8 ones).

    Raises:
        ExportCheckError: some output differs by more than rtol * max(1, max|ref|).
    """
    encoder, decoder, lowres = (signature_runner(os.path.join(directory, files[part]))
                                for part in ("encoder", "decoder", "decoder_lowres"))  # fmt: skip

    def outputs(runner: Any, names: tuple[str, ...]) -> Callable[[dict[str, np.ndarray]], tuple[np.ndarray, ...]]:
        return lambda feeds: tuple(runner(**feeds)[name] for name in names)

    deviations = compare_export(
        model.config, encoder=lambda pixels: encoder(pixel_values=pixels)[ENCODER_OUTPUTS[0]],
        decoder=outputs(decoder, DECODER_OUTPUTS), lowres=outputs(lowres, LOWRES_DECODER_OUTPUTS),
        embed_reference=model.get_image_embeddings,
        decode_reference=lambda embedding, case: reference_decode(model, embedding, case), rtol=rtol,
    )  # fmt: skip
    kind = "int8 " if rtol != EXPORT_RTOL else ""
    raise_on_failure(deviations, f"the {kind}LiteRT export differs from the Keras model", log)
    return deviations
