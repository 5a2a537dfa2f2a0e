"""LiteRT (TFLite) export of a TFSamModel: the image encoder, and the prompt encoder + mask decoder with Meta's ONNX
decoder signature (the tf.functions are in ``sam_tf.tflite_graphs``), converted by ``tf.lite.TFLiteConverter``
(builtin ops only, so the plain ai-edge-litert interpreter runs them) and checked against the Keras model with
ai-edge-litert (``sam_tf.tflite_check``) before the export's manifest is written. The Keras twin of
``sam_torch/onnx_export.py``.

Files in the export directory: ``encoder.tflite`` (pixel_values (1, 3, S, S) -> image_embeddings (1, C, g, g)),
``decoder.tflite`` (Meta's six inputs -> masks, iou_predictions, low_res_masks; N dynamic, and ``masks`` sized by
the value of ``orig_im_size`` at run time), ``decoder_lowres.tflite`` (P prompts in one run -> low_res_masks,
iou_predictions; what ``--backend tflite`` runs), optionally ``*.int8.tflite`` (dynamic-range quantization), and
``dualsam_export.json`` (``sam_core.export_manifest``, the ONNX export's schema with "format": "tflite"). Every file
has one ``serving_default`` signature whose inputs and outputs carry Meta's names.

Shape legend: C embedding channels, g grid, S input side.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from sam_core.atomic import write_json
from sam_core.export_manifest import ExportResult, graph_files, graphs_manifest, int8_name, publish
from sam_core.onnx_signature import MANIFEST_NAME
from sam_core.probe import Deviation

from .tflite_check import EXPORT_RTOL, INT8_RTOL, check_export, import_litert
from .tflite_graphs import ImageEncoderGraph, LowResDecoderGraph, PromptDecoderGraph, concrete_function

__all__ = ["FILES", "QUANTIZATIONS", "convert_graph", "export_tflite"]

QUANTIZATIONS = ("int8",)
#: Manifest key -> file name.
FILES = graph_files(".tflite")
GRAPHS = {"encoder": ImageEncoderGraph, "decoder": PromptDecoderGraph, "decoder_lowres": LowResDecoderGraph}


def convert_graph(graph: Any, *, quantize: bool = False) -> bytes:
    """One graph of ``sam_tf.tflite_graphs`` as a .tflite flatbuffer with a ``serving_default`` signature.

    The model's variables are frozen into constants first (converted as resource variables they would be read
    uninitialized by the interpreter), and the frozen function is wrapped in a tf.function on the graph's input
    signature so that the signature keeps Meta's input and output names.

    Args:
        graph: an ImageEncoderGraph, PromptDecoderGraph or LowResDecoderGraph.
        quantize: dynamic-range quantization (``tf.lite.Optimize.DEFAULT``: int8 weights, float activations).
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    traced = concrete_function(graph)
    frozen = convert_variables_to_constants_v2(traced)
    structure = traced.structured_outputs
    holder = tf.Module()
    holder.serve = tf.function(
        lambda *inputs: tf.nest.pack_sequence_as(structure, frozen(*inputs)), input_signature=graph.input_signature
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([holder.serve.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def export_tflite(
    model: keras.Model,
    directory: str | os.PathLike,
    *,
    quantize: str | None = None,
    check: bool = True,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Writes encoder.tflite, decoder.tflite, decoder_lowres.tflite (and their int8 twins) and dualsam_export.json
    into ``directory``.

    The files are written into a temporary folder inside ``directory`` and checked there, then moved into place;
    the manifest is written last, so a directory with a manifest holds a checked export.

    Args:
        model: a float32 sam_tf.TFSamModel.
        directory: created if needed; existing export files in it are replaced.
        quantize: None or "int8" (``*.int8.tflite``, checked within INT8_RTOL).
        check: run the LiteRT check against ``model`` (ExportCheckError above the bound).
        log: where progress and the check's lines go.

    Raises:
        ValueError: an unknown quantization, or a model not in float32.
        ImportError: ai-edge-litert missing (the message is the install hint).
        ExportCheckError: the check failed; no file of this export is left in ``directory``.
    """
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    if model.compute_dtype != "float32":
        raise ValueError(f"export a float32 model, got {model.compute_dtype} (load it with dtype='float32')")
    import_litert()
    say = log or (lambda line: None)
    os.makedirs(directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=directory)
    quantized: dict[str, str] = {}
    deviations: list[Deviation] = []
    try:
        for part, graph in GRAPHS.items():
            say(f"converting the {part} to LiteRT ({FILES[part]})")
            with open(os.path.join(staging, FILES[part]), "wb") as handle:
                handle.write(convert_graph(graph(model)))
        if check:
            say("checking LiteRT against the Keras model on the probe")
            deviations = check_export(staging, model, files=FILES, log=say)
        if quantize == "int8":
            quantized = {name: int8_name(name) for name in FILES.values()}
            for part, graph in GRAPHS.items():
                say(f"converting the {part} with dynamic-range quantization ({quantized[FILES[part]]})")
                with open(os.path.join(staging, quantized[FILES[part]]), "wb") as handle:
                    handle.write(convert_graph(graph(model), quantize=True))
            if check:
                say(f"checking the int8 files against the Keras model (bound {INT8_RTOL:g} relative)")
                int8_files = {part: quantized[name] for part, name in FILES.items()}
                deviations += check_export(staging, model, files=int8_files, rtol=INT8_RTOL, log=say)
        names = publish(staging, directory, {int8_name(name) for name in FILES.values()})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest = graphs_manifest(
        model.config, directory, names, format="tflite", files=FILES, quantized=quantized, return_single_mask=False,
        checked=bool(check), deviations=deviations, rtol=EXPORT_RTOL,
        check_notes={"int8_rtol": INT8_RTOL} if quantized else None, extra={"tensorflow_version": tf.__version__},
    )  # fmt: skip
    write_json(os.path.join(directory, MANIFEST_NAME), manifest)
    say(f"wrote {MANIFEST_NAME}")
    return ExportResult(str(directory), manifest, deviations)
