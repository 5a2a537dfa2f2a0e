"""The content of an export's ``dualsam_export.json``, one schema for every format (ONNX from
``sam_torch.onnx_export``, LiteRT and SavedModel from ``sam_tf``): the config, the preprocessing constants, each
graph's file and the names and shapes of its inputs and outputs, the self-check's summary and the sha256 of every
file. The runtime backends (``dualsam.runtimes``) read it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from .config import SamConfig
from .onnx_signature import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    LABEL_CODES,
    LOWRES_DECODER_INPUTS,
    LOWRES_DECODER_OUTPUTS,
    MANIFEST_NAME,
    decoder_shapes,
    encoder_shapes,
    lowres_decoder_shapes,
    preprocessing,
    sha256_file,
)  # fmt: skip
from .probe import Deviation


@dataclass
class ExportResult:
    """What an exporter wrote.

    Attributes:
        directory: the export directory.
        manifest: the content of ``dualsam_export.json``.
        deviations: the self-check's comparisons (empty when ``check=False``).
    """

    directory: str
    manifest: dict[str, Any]
    deviations: list[Deviation] = field(default_factory=list)


#: The three graphs of an ONNX or LiteRT export, by manifest key.
GRAPHS = ("encoder", "decoder", "decoder_lowres")


def graph_files(extension: str) -> dict[str, str]:
    """Manifest key -> file name of the three graphs, e.g. ``{"encoder": "encoder.onnx", ...}`` for ".onnx"."""
    return {part: f"{part}{extension}" for part in GRAPHS}


def int8_name(name: str) -> str:
    """``encoder.onnx`` -> ``encoder.int8.onnx``."""
    stem, extension = os.path.splitext(name)
    return f"{stem}.int8{extension}"


def files_entry(directory: str | os.PathLike, names: list[str]) -> dict[str, dict[str, Any]]:
    """File name -> {"sha256", "bytes"} of each file (a folder's files, e.g. a SavedModel's, under their paths)."""
    entries = {}
    for name in names:
        path = os.path.join(directory, name)
        paths = [path]
        if os.path.isdir(path):
            paths = sorted(os.path.join(root, f) for root, _, files in os.walk(path) for f in files)
        for item in paths:
            entries[os.path.relpath(item, directory)] = {"sha256": sha256_file(item), "bytes": os.path.getsize(item)}
    return entries


def graphs_manifest(
    config: SamConfig,
    directory: str | os.PathLike,
    names: list[str],
    *,
    format: str,
    files: dict[str, str],
    quantized: dict[str, str],
    return_single_mask: bool,
    checked: bool,
    deviations: list[Deviation],
    rtol: float,
    check_notes: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of an export of the three graphs (Meta's decoder signature; ``sam_core.onnx_signature``).

    Args:
        config: the exported model's config.
        directory: the export directory (the files are hashed there).
        names: every file the export wrote.
        format: "onnx" or "tflite".
        files: manifest key (:data:`GRAPHS`) -> file name.
        quantized: file name -> its int8 twin's name (empty without ``--quantize``).
        return_single_mask: the decoder returns Meta's chosen single mask instead of all K.
        checked, deviations, rtol: the self-check: done or not, its comparisons and their bound.
        check_notes: more entries of "check" (the int8 check's bound).
        extra: format-specific top-level entries (the opset and torch version, the TensorFlow version).
    """
    encoder_io = encoder_shapes(config)
    decoder_io = decoder_shapes(config, return_single_mask)
    lowres_io = lowres_decoder_shapes(config)
    worst = max((d.max_abs_diff / d.bound for d in deviations), default=None)
    return {
        "format": format,
        "config": config.to_dict(),
        "preprocessing": preprocessing(config),
        "low_res_size": 4 * config.vision_config.grid_size,
        "encoder": {
            "file": files["encoder"],
            "int8_file": quantized.get(files["encoder"]),
            "inputs": {name: encoder_io[name] for name in ENCODER_INPUTS},
            "outputs": {name: encoder_io[name] for name in ENCODER_OUTPUTS},
        },
        "decoder": {
            "file": files["decoder"],
            "int8_file": quantized.get(files["decoder"]),
            "signature": "segment-anything scripts/export_onnx_model.py (SamOnnxModel)",
            "return_single_mask": bool(return_single_mask),
            "label_codes": LABEL_CODES,
            "inputs": {name: decoder_io[name] for name in DECODER_INPUTS},
            "outputs": {name: decoder_io[name] for name in DECODER_OUTPUTS},
            "dtype": "float32 for every input and output (point_labels and orig_im_size too, as Meta's)",
        },
        "decoder_lowres": {
            "file": files["decoder_lowres"],
            "int8_file": quantized.get(files["decoder_lowres"]),
            "signature": "Meta's prompt format for P prompts on one image; every mask token's low-res logits",
            "label_codes": LABEL_CODES,
            "inputs": {name: lowres_io[name] for name in LOWRES_DECODER_INPUTS},
            "outputs": {name: lowres_io[name] for name in LOWRES_DECODER_OUTPUTS},
            "dtype": "float32 for every input and output",
        },
        "check": {
            "done": checked,
            "rtol": rtol,
            "outputs": len(deviations),
            "worst_fraction_of_bound": worst,
            **(check_notes or {}),
        },  # fmt: skip
        "files": files_entry(directory, names),
        **(extra or {}),
    }


def publish(staging: str, directory: str | os.PathLike, stale: set[str]) -> list[str]:
    """Moves every file (or folder) of ``staging`` into ``directory`` and removes ``stale`` names the new export does
    not have (int8 files of an earlier export); the old manifest goes first, so that a directory with a manifest
    holds a complete export. Returns the names moved."""
    names = sorted(os.listdir(staging))
    for name in [MANIFEST_NAME, *names, *(stale - set(names))]:
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.isfile(path):
            os.remove(path)
        if name in names:
            os.replace(os.path.join(staging, name), path)
    return names
