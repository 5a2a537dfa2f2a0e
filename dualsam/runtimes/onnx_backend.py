"""The ONNX Runtime ``sam_core.backend.PredictionBackend``: runs an export directory written by ``dualsam export
--format onnx`` (``sam_torch.onnx_export``) with no framework installed; ``SamPredictor(OnnxBackend(DIR))`` and
``SamAutomaticMaskGenerator(OnnxBackend(DIR))`` work as on a model.

``embed`` runs ``encoder.onnx`` once per image and ``decode`` runs ``decoder_lowres.onnx`` once per image with all
its prompts (``dualsam.runtimes.export_backend``, shared with the LiteRT backend). onnxruntime is imported when a
backend is made (``pip install 'dualsam[onnx]'``).

Shape legend: P prompts, K masks per prompt, C embedding channels, g embedding grid, L low-res mask side (4 g), S
input side.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sam_core.onnx_signature import ENCODER_OUTPUTS, LOWRES_DECODER_OUTPUTS

from .export_backend import (
    PRECISIONS,
    ExportBackend,
    ExportDirectoryError,
    RuntimeMissingError,
    import_runtime,
    load_manifest,
    runtime_installed,
)  # fmt: skip

INSTALL_HINT = "pip install 'dualsam[onnx]'"

__all__ = ["INSTALL_HINT", "PRECISIONS", "ExportDirectoryError", "OnnxBackend", "RuntimeMissingError",
           "import_onnxruntime", "is_available", "load_manifest"]  # fmt: skip


def is_available() -> bool:
    """True when onnxruntime can be imported (nothing is imported)."""
    return runtime_installed("onnxruntime")


def import_onnxruntime() -> Any:
    """onnxruntime, or RuntimeMissingError with the install hint."""
    return import_runtime("onnxruntime", backend="onnx", package="onnxruntime", hint=INSTALL_HINT)


class OnnxBackend(ExportBackend):
    """Runs an ONNX export's encoder and low-res decoder with ONNX Runtime on numpy inputs.

    Args:
        directory: an export directory (``dualsam export MODEL --format onnx --out DIR``).
        precision: "float32", or "int8" for the quantized files (``--quantize int8``).
        check_hashes: compare every file with its sha256 in the manifest first.
        providers: ONNX Runtime execution providers (default: CPU).
        prompts_per_run: at most this many prompts in one low-res decoder run (default: all of an image's prompts).

    Attributes: see ``dualsam.runtimes.export_backend.ExportBackend``.

    Raises:
        RuntimeMissingError: onnxruntime is not installed.
        ExportDirectoryError: not a usable ONNX export (see ExportBackend).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        precision: str = "float32",
        check_hashes: bool = True,
        providers: list[str] | None = None,
        prompts_per_run: int | None = None,
    ) -> None:
        onnxruntime = import_onnxruntime()
        super().__init__(directory, format="onnx", precision=precision, check_hashes=check_hashes,
                         prompts_per_run=prompts_per_run)  # fmt: skip
        self._providers = providers or ["CPUExecutionProvider"]
        self._open_sessions(onnxruntime.SessionOptions())

    def _open_sessions(self, options: Any) -> None:
        options.log_severity_level = 3
        session = import_onnxruntime().InferenceSession
        self.encoder, self.decoder = (
            session(os.path.join(self.directory, name), options, providers=self._providers) for name in self.files
        )

    def set_threads(self, threads: int) -> None:
        """Reopens the sessions with ``threads`` intra-op threads that sleep when idle (no spinning).

        ONNX Runtime's default (a thread per core, spinning between runs) suits one caller; a server running several
        calls at once, each on its share of the cores (``dualsam.serve.threads``), would otherwise burn the cores
        in spinning threads: a default-model decoder run took 16.9 ms of CPU for 8.5 ms of wall time on 2 cores
        here, against 6.3 ms for 6.3 ms on one thread without spinning.
        """
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        options = import_onnxruntime().SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._open_sessions(options)

    def run_encoder(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.encoder.run(list(ENCODER_OUTPUTS), {"pixel_values": pixel_values})[0]

    def run_lowres_decoder(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        low_res_masks, iou_predictions = self.decoder.run(list(LOWRES_DECODER_OUTPUTS), feeds)
        return low_res_masks, iou_predictions
