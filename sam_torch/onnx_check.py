"""The ONNX export's self-check: ONNX Runtime on an export directory against the torch model it came from, on the
fixed probe (``sam_core.probe``) in Meta's decoder inputs (each probe prompt alone through both decoders, and
batches of prompts through the low-res decoder), each output within EXPORT_RTOL of the torch model's.
onnxruntime is imported when needed (``pip install 'dualsam[onnx]'``).

Shape legend: P prompts, N points, K mask tokens, C embedding channels, g grid, L low-res side (4 g), S input side, H/W
original image size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from sam_core.export_check import (
    ExportCheckError,
    case_inputs,
    compare_export,
    probe_size,
    raise_on_failure,
)  # fmt: skip
from sam_core.onnx_signature import (
    DECODER_FILE,
    DECODER_OUTPUTS,
    ENCODER_FILE,
    ENCODER_OUTPUTS,
    LOWRES_DECODER_FILE,
    LOWRES_DECODER_OUTPUTS,
)  # fmt: skip
from sam_core.probe import Deviation

from .onnx_graphs import SINGLE_MASK_REWEIGHT

#: ONNX Runtime against the torch model, relative to max(1, max|ref|): fp32 accumulation order differs.
EXPORT_RTOL = 1e-4
INSTALL_HINT = "pip install 'dualsam[onnx]'"

__all__ = ["EXPORT_RTOL", "INSTALL_HINT", "Deviation", "ExportCheckError", "check_export", "import_onnxruntime",
           "probe_size", "reference_decode", "select_single_mask", "session"]  # fmt: skip


def import_onnxruntime() -> Any:
    """onnxruntime, or an ImportError whose message is the one-line install hint."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(f"ONNX export and the ONNX backend need onnx and onnxruntime: {INSTALL_HINT}") from error
    return onnxruntime


def session(path: str | os.PathLike) -> Any:
    """An ONNX Runtime CPU session on ``path``."""
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def reference_decode(model: nn.Module, embedding: torch.Tensor, case: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Our model's forward on one probe case, every mask token: (1, K, L, L) logits and (1, K) IoUs."""
    kwargs = {"image_embeddings": embedding, **case_inputs(case)}
    with torch.no_grad():
        single = model(**kwargs, multimask_output=False)
        multi = model(**kwargs, multimask_output=True)
    logits = torch.cat([single.pred_masks, multi.pred_masks], dim=2)[0].float().cpu().numpy()
    iou = torch.cat([single.iou_scores, multi.iou_scores], dim=2)[0].float().cpu().numpy()
    return logits, iou


def select_single_mask(logits: np.ndarray, iou: np.ndarray, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Meta's single-mask choice in numpy: (1, K, L, L), (1, K) -> (1, 1, L, L), (1, 1)."""
    score = iou.astype(np.float64).copy()
    score[:, 0] += (num_points - 2.5) * SINGLE_MASK_REWEIGHT
    best = int(np.argmax(score[0]))
    return logits[:, best : best + 1], iou[:, best : best + 1]


def check_export(
    directory: str | os.PathLike,
    model: nn.Module,
    *,
    return_single_mask: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[Deviation]:
    """Runs encoder.onnx and decoder.onnx of ``directory`` with ONNX Runtime on the probe and compares them with
    ``model``.

    The probe and the comparisons are ``sam_core.export_check.compare_export``'s (shared with the LiteRT export):
    the encoder on verify's probe image, each probe case through both decoders with a non-square ``orig_im_size``,
    batches of prompts through the low-res decoder.

    Raises:
        ExportCheckError: some output differs by more than EXPORT_RTOL * max(1, max|ref|).
    """
    encoder = session(os.path.join(directory, ENCODER_FILE))
    decoder = session(os.path.join(directory, DECODER_FILE))
    lowres = session(os.path.join(directory, LOWRES_DECODER_FILE))

    def embed(pixels: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return model.get_image_embeddings(torch.from_numpy(pixels)).float()

    deviations = compare_export(
        model.config, encoder=lambda pixels: encoder.run(list(ENCODER_OUTPUTS), {"pixel_values": pixels})[0],
        decoder=lambda feeds: decoder.run(list(DECODER_OUTPUTS), feeds),
        lowres=lambda feeds: lowres.run(list(LOWRES_DECODER_OUTPUTS), feeds), embed_reference=embed,
        decode_reference=lambda embedding, case: reference_decode(model, embedding, case), rtol=EXPORT_RTOL,
        select_single_mask=select_single_mask if return_single_mask else None,
    )  # fmt: skip
    raise_on_failure(deviations, "the ONNX export differs from the torch model", log)
    return deviations
