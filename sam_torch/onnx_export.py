"""ONNX export of a SamModel: the image encoder, and the prompt encoder + mask decoder with Meta's ONNX decoder
signature (segment-anything's ``scripts/export_onnx_model.py``; the traced modules are in ``sam_torch.onnx_graphs``),
each checked against the torch model with ONNX Runtime (``sam_torch.onnx_check``) before the export's manifest is
written.

Files in the export directory: ``encoder.onnx`` (pixel_values (1, 3, S, S) -> image_embeddings (1, C, g, g)),
``decoder.onnx`` (Meta's six inputs -> masks, iou_predictions, low_res_masks; see ``sam_core.onnx_signature``),
``decoder_lowres.onnx`` (P prompts in one run -> low_res_masks, iou_predictions; what the runtime backends run),
optionally ``*.int8.onnx`` (dynamic int8 quantization), and ``dualsam_export.json`` (config, preprocessing,
names and shapes, opset, sha256 of every file). onnx and onnxruntime are imported when needed
(``pip install 'dualsam[onnx]'``).

Shape legend: P prompts, C embedding channels, g grid, S input side.
"""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from sam_core.atomic import write_json
from sam_core.export_manifest import GRAPHS, ExportResult, graphs_manifest, int8_name, publish
from sam_core.onnx_signature import (
    DECODER_FILE,
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_FILE,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    LOWRES_DECODER_FILE,
    LOWRES_DECODER_INPUTS,
    LOWRES_DECODER_OUTPUTS,
    MANIFEST_NAME,
    decoder_feeds,
    lowres_decoder_feeds,
)  # fmt: skip
from sam_core.probe import probe_inputs

from .onnx_check import (
    EXPORT_RTOL,
    INSTALL_HINT,
    Deviation,
    ExportCheckError,
    check_export,
    import_onnxruntime,
    probe_size,
    session,
)  # fmt: skip
from .onnx_graphs import (
    ImageEncoderGraph,
    LowResDecoderGraph,
    PromptDecoderGraph,
    decoder_example_inputs,
    lowres_decoder_example_inputs,
)  # fmt: skip

__all__ = ["DEFAULT_OPSET", "QUANTIZATIONS", "ExportCheckError", "ExportResult", "export_onnx", "quantize_int8"]

#: Meta's export script's default opset; the lowest this exporter writes.
DEFAULT_OPSET = 17
QUANTIZATIONS = ("int8",)
GRAPH_FILES = (ENCODER_FILE, DECODER_FILE, LOWRES_DECODER_FILE)


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as error:
        raise ImportError(f"ONNX export needs onnx and onnxruntime: {INSTALL_HINT}") from error
    return onnx


def _export(module: nn.Module, args: tuple, path: str, names: tuple, outputs: tuple, dynamic: dict, opset: int):
    """The TorchScript exporter (as Meta's script uses): Meta's crop to the resized size is data-dependent, which
    the tracer records as Slice ops where torch.export would need unbacked sizes."""
    choice = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings of the TorchScript exporter
        torch.onnx.export(
            module, args, path, opset_version=opset, do_constant_folding=True, input_names=list(names),
            output_names=list(outputs), dynamic_axes=dynamic, **choice,
        )  # fmt: skip


def quantize_int8(source: str, destination: str) -> None:
    """Dynamic int8 quantization of one ONNX file (onnxruntime.quantization.quantize_dynamic, uint8 weights)."""
    import_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice on pre-processing goes to the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(source, destination, weight_type=QuantType.QUInt8)
    finally:
        root.setLevel(level)


def export_onnx(
    model: nn.Module,
    directory: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    quantize: str | None = None,
    return_single_mask: bool = False,
    check: bool = True,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Writes encoder.onnx, decoder.onnx, decoder_lowres.onnx (and their int8 twins) and dualsam_export.json into
    ``directory``.

    The graphs are written into a temporary folder inside ``directory`` and checked there, then moved into place;
    the manifest is written last, so a directory with a manifest holds a checked export.

    Args:
        model: a float32 sam_torch.SamModel.
        directory: created if needed; existing export files in it are replaced.
        opset: the ONNX opset, at least 17.
        quantize: None or "int8" (``quantize_dynamic``; these files are run, not compared).
        return_single_mask: the decoder returns Meta's chosen single mask instead of all K.
        check: run the ONNX Runtime check against ``model`` (ExportCheckError above EXPORT_RTOL).
        log: where progress and the check's lines go.

    Raises:
        ValueError: opset below 17, an unknown quantization, or a model not in float32.
        ImportError: onnx or onnxruntime missing (the message is the install hint).
        ExportCheckError: the check failed; no file of this export is left in ``directory``.
    """
    if int(opset) < DEFAULT_OPSET:
        raise ValueError(f"opset must be at least {DEFAULT_OPSET}, got {opset}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    if model.dtype != torch.float32:
        raise ValueError(f"export a float32 model, got {model.dtype} (load it with dtype='float32')")
    onnx = _import_onnx()
    import_onnxruntime()
    say = log or (lambda line: None)
    config = model.config
    model = model.eval().cpu()
    os.makedirs(directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=directory)
    quantized: dict[str, str] = {}
    deviations: list[Deviation] = []
    try:
        encoder_path, decoder_path, lowres_path = (os.path.join(staging, name) for name in GRAPH_FILES)
        say(f"exporting the image encoder (opset {opset})")
        pixels = probe_inputs(config)[0]
        graph = ImageEncoderGraph(model)
        _export(graph, (torch.from_numpy(pixels),), encoder_path, ENCODER_INPUTS, ENCODER_OUTPUTS, {}, opset)
        say("exporting the prompt encoder + mask decoder (Meta's ONNX decoder signature)")
        dynamic = {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"},
                   "masks": {2: "orig_height", 3: "orig_width"}}  # fmt: skip
        graph = PromptDecoderGraph(model, return_single_mask=return_single_mask)
        _export(graph, decoder_example_inputs(config), decoder_path, DECODER_INPUTS, DECODER_OUTPUTS, dynamic, opset)
        say("exporting the low-res decoder (a batch of prompts, low-res logits only)")
        prompts, masks = {0: "num_prompts", 1: "num_points"}, {0: "num_masks"}
        dynamic = {"point_coords": prompts, "point_labels": prompts, "mask_input": masks, "has_mask_input": masks,
                   "low_res_masks": {0: "num_prompts"}, "iou_predictions": {0: "num_prompts"}}  # fmt: skip
        _export(LowResDecoderGraph(model), lowres_decoder_example_inputs(config), lowres_path, LOWRES_DECODER_INPUTS,
                LOWRES_DECODER_OUTPUTS, dynamic, opset)  # fmt: skip
        for path in (encoder_path, decoder_path, lowres_path):
            onnx.checker.check_model(path)
        if check:
            say("checking ONNX Runtime against the torch model on the probe")
            deviations = check_export(staging, model, return_single_mask=return_single_mask, log=say)
        if quantize == "int8":
            quantized = _quantize_all(staging, config, pixels, say)
        names = publish(staging, directory, {int8_name(name) for name in GRAPH_FILES})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest = graphs_manifest(
        config, directory, names, format="onnx", files=dict(zip(GRAPHS, GRAPH_FILES)), quantized=quantized,
        return_single_mask=return_single_mask, checked=bool(check), deviations=deviations, rtol=EXPORT_RTOL,
        extra={"opset": int(opset), "torch_version": torch.__version__},
    )  # fmt: skip
    write_json(os.path.join(directory, MANIFEST_NAME), manifest)
    say(f"wrote {MANIFEST_NAME}")
    return ExportResult(str(directory), manifest, deviations)


def _quantize_all(staging: str, config: Any, pixels: np.ndarray, say: Callable[[str], None]) -> dict[str, str]:
    """Writes encoder.int8.onnx, decoder.int8.onnx and decoder_lowres.int8.onnx next to the float files and runs
    each once."""
    quantized = {}
    for name in GRAPH_FILES:
        target = int8_name(name)
        say(f"quantizing {name} to {target} (dynamic int8)")
        quantize_int8(os.path.join(staging, name), os.path.join(staging, target))
        quantized[name] = target
    (embedding,) = session(os.path.join(staging, quantized[ENCODER_FILE])).run(None, {"pixel_values": pixels})
    feeds = decoder_feeds(
        embedding, points=np.array([[0.3, 0.45]]) * config.vision_config.image_size, labels=np.ones(1),
        orig_size=probe_size(config.vision_config.image_size), low_res_size=4 * config.vision_config.grid_size,
    )  # fmt: skip
    outputs = session(os.path.join(staging, quantized[DECODER_FILE])).run(None, feeds)
    low_res = feeds["mask_input"].shape[-1]
    feeds = lowres_decoder_feeds(embedding, points=feeds["point_coords"][:, :1], labels=np.ones((1, 1)),
                                 low_res_size=low_res)  # fmt: skip
    outputs += session(os.path.join(staging, quantized[LOWRES_DECODER_FILE])).run(None, feeds)
    if not all(np.isfinite(output).all() for output in outputs):
        raise ExportCheckError("the int8 decoder gives non-finite outputs on the probe", [])
    return quantized
