"""The LiteRT ``sam_core.backend.PredictionBackend``: runs an export directory written by ``dualsam export
--format tflite`` (``sam_tf.tflite_export``) with ai-edge-litert's interpreter and no framework installed;
``SamPredictor(TfliteBackend(DIR))`` and ``SamAutomaticMaskGenerator(TfliteBackend(DIR))`` work as on a model.

``embed`` runs ``encoder.tflite`` once per image and ``decode`` runs ``decoder_lowres.tflite`` once per image with
all its prompts (``dualsam.runtimes.export_backend``, shared with the ONNX backend), through each file's
``serving_default`` signature, which resizes the dynamic prompt and point axes to the inputs of each run.
ai-edge-litert is imported when a backend is made (``pip install 'dualsam[tflite]'``).

Shape legend: P prompts, K masks per prompt, C embedding channels, g embedding grid, L low-res mask side (4 g), S
input side.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sam_core.onnx_signature import ENCODER_OUTPUTS, LOWRES_DECODER_OUTPUTS

from .export_backend import ExportBackend, import_runtime, runtime_installed

INSTALL_HINT = "pip install 'dualsam[tflite]'"

__all__ = ["INSTALL_HINT", "TfliteBackend", "import_litert", "is_available"]


def is_available() -> bool:
    """True when ai-edge-litert can be imported (nothing is imported)."""
    return runtime_installed("ai_edge_litert")


def import_litert() -> Any:
    """``ai_edge_litert.interpreter``, or RuntimeMissingError with the install hint."""
    return import_runtime("ai_edge_litert.interpreter", backend="tflite", package="ai-edge-litert", hint=INSTALL_HINT)


class TfliteBackend(ExportBackend):
    """Runs a LiteRT export's encoder and low-res decoder with ai-edge-litert on numpy inputs.

    Args:
        directory: an export directory (``dualsam export MODEL --format tflite --out DIR``).
        precision: "float32", or "int8" for the quantized files (``--quantize int8``).
        check_hashes: compare every file with its sha256 in the manifest first.
        num_threads: the interpreter's threads (default: LiteRT's).
        prompts_per_run: at most this many prompts in one low-res decoder run (default: all of an image's prompts).

    Attributes: see ``dualsam.runtimes.export_backend.ExportBackend``.

    Raises:
        RuntimeMissingError: ai-edge-litert is not installed.
        ExportDirectoryError: not a usable LiteRT export (see ExportBackend).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        precision: str = "float32",
        check_hashes: bool = True,
        num_threads: int | None = None,
        prompts_per_run: int | None = None,
    ) -> None:
        interpreter = import_litert()
        super().__init__(directory, format="tflite", precision=precision, check_hashes=check_hashes,
                         prompts_per_run=prompts_per_run)  # fmt: skip
        self.encoder, self.decoder = (
            interpreter.Interpreter(model_path=os.path.join(self.directory, name), num_threads=num_threads)
            .get_signature_runner()
            for name in self.files
        )  # fmt: skip

    def run_encoder(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.encoder(pixel_values=pixel_values)[ENCODER_OUTPUTS[0]]

    def run_lowres_decoder(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.decoder(**feeds)
        low_res_masks, iou_predictions = (outputs[name] for name in LOWRES_DECODER_OUTPUTS)
        return low_res_masks, iou_predictions
