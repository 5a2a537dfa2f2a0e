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

from sam_core.image_transforms import preprocess_shape, upscale_masks
from sam_core.onnx_signature import (
    DECODER_FILE,
    DECODER_OUTPUTS,
    ENCODER_FILE,
    ENCODER_OUTPUTS,
    LOWRES_DECODER_FILE,
    LOWRES_DECODER_OUTPUTS,
    decoder_feeds,
    lowres_decoder_feeds,
)  # fmt: skip
from sam_core.probe import Deviation, deviation, probe_inputs

from .onnx_graphs import SINGLE_MASK_REWEIGHT

#: ONNX Runtime against the torch model, relative to max(1, max|ref|): fp32 accumulation order differs.
EXPORT_RTOL = 1e-4
INSTALL_HINT = "pip install 'dualsam[onnx]'"


class ExportCheckError(RuntimeError):
    """ONNX Runtime's outputs differ from the torch model's above EXPORT_RTOL; ``deviations`` lists them all."""

    def __init__(self, message: str, deviations: list[Deviation]) -> None:
        super().__init__(message)
        self.deviations = deviations


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


def probe_size(image_size: int) -> tuple[int, int]:
    """The probe's non-square original (H, W): 600 x 800 at S = 1024 (the probe image's 3:4 content)."""
    return max(1, round(image_size * 600 / 1024)), max(1, round(image_size * 800 / 1024))


def probe_cases(config: Any) -> list[dict[str, Any]]:
    """The decoder's probe: verify's prompts (``sam_core.probe.probe_inputs``, one prompt each), five mixed points,
    and a mask-only prompt; each a dict of name, points (N, 2), labels (N,), box (4,) and mask (1, 1, L, L)."""
    side = config.vision_config.image_size
    _, prompts = probe_inputs(config)
    cases = [
        {"name": p["name"], "points": p["points"][0, 0] if "points" in p else None,
         "labels": p["labels"][0, 0] if "labels" in p else None,
         "box": p["boxes"][0, 0] if "boxes" in p else None, "mask": p.get("masks")}
        for p in prompts
    ]  # fmt: skip
    fractions = np.array([[0.3, 0.45], [0.6, 0.2], [0.1, 0.7], [0.8, 0.55], [0.45, 0.3]], np.float32)
    labels = np.array([1, 0, 1, 0, 1], np.int64)
    cases.append({"name": "5 points", "points": fractions * side, "labels": labels, "box": None, "mask": None})
    mask = next(case["mask"] for case in cases if case["mask"] is not None)
    cases.append({"name": "mask only", "points": None, "labels": None, "box": None, "mask": mask})
    return cases


def batch_cases(config: Any) -> list[dict[str, Any]]:
    """The low-res decoder's batched probe: five one-point prompts without and with one shared mask input, and
    five boxes with a mask input each; each a dict of name, points (P, N, 2), labels (P, N), boxes (P, 4) and
    masks (M, 1, L, L)."""
    side = config.vision_config.image_size
    _, prompts = probe_inputs(config)
    mask = next(p["masks"] for p in prompts if "masks" in p)[0]
    points = np.array([[0.3, 0.45], [0.6, 0.2], [0.1, 0.7], [0.8, 0.55], [0.45, 0.3]], np.float32)[:, None] * side
    labels = np.array([[1], [0], [1], [1], [1]], np.int64)
    boxes = np.concatenate([points[:, 0] * 0.5, points[:, 0] * 0.5 + 0.4 * side], axis=1)
    masks = np.stack([mask * scale for scale in (1.0, -1.0, 0.5, 2.0, -0.25)])
    return [
        {"name": "5 prompts", "points": points, "labels": labels, "boxes": None, "masks": None},
        {"name": "5 prompts, 1 mask", "points": points, "labels": labels, "boxes": None, "masks": mask[None]},
        {"name": "5 boxes, 5 masks", "points": None, "labels": None, "boxes": boxes, "masks": masks},
    ]


def reference_batch(model: nn.Module, embedding: torch.Tensor, case: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Our model's forward on each prompt of a batched case: (P, K, L, L) logits and (P, K) IoUs."""
    count = len(case["points"] if case["points"] is not None else case["boxes"])
    outputs = [
        reference_decode(model, embedding, {
            "points": None if case["points"] is None else case["points"][i],
            "labels": None if case["labels"] is None else case["labels"][i],
            "box": None if case["boxes"] is None else case["boxes"][i],
            "mask": None if case["masks"] is None else case["masks"][i % len(case["masks"])][None],
        })
        for i in range(count)
    ]  # fmt: skip
    return np.concatenate([logits for logits, _ in outputs]), np.concatenate([iou for _, iou in outputs])


def reference_decode(model: nn.Module, embedding: torch.Tensor, case: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Our model's forward on one probe case, every mask token: (1, K, L, L) logits and (1, K) IoUs."""
    kwargs: dict[str, Any] = {"image_embeddings": embedding}
    if case["points"] is not None:
        kwargs["input_points"] = np.asarray(case["points"], np.float32).reshape(1, 1, -1, 2)
        kwargs["input_labels"] = np.asarray(case["labels"], np.int64).reshape(1, 1, -1)
    if case["box"] is not None:
        kwargs["input_boxes"] = np.asarray(case["box"], np.float32).reshape(1, 1, 4)
    if case["mask"] is not None:
        kwargs["input_masks"] = np.asarray(case["mask"], np.float32).reshape(1, 1, *case["mask"].shape[-2:])
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


def _deviation(name: str, ours: np.ndarray, reference: np.ndarray) -> Deviation:
    return deviation(name, ours, reference, EXPORT_RTOL)


def check_export(
    directory: str | os.PathLike,
    model: nn.Module,
    *,
    return_single_mask: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[Deviation]:
    """Runs encoder.onnx and decoder.onnx of ``directory`` with ONNX Runtime on the probe and compares them with
    ``model``.

    The encoder gets verify's probe image; the decoders get the torch model's embedding of it and every probe case
    in Meta's point format, Meta's with a non-square ``orig_im_size``. ``masks`` is compared with the reference
    logits upscaled by ``sam_core.image_transforms.upscale_masks``. The low-res decoder also gets the batched cases
    (:func:`batch_cases`), against the model's forward on each of their prompts.

    Raises:
        ExportCheckError: some output differs by more than EXPORT_RTOL * max(1, max|ref|).
    """
    config = model.config
    low_res = 4 * config.vision_config.grid_size
    side = config.vision_config.image_size
    pixels, _ = probe_inputs(config)
    deviations: list[Deviation] = []
    encoder = session(os.path.join(directory, ENCODER_FILE))
    (ours,) = encoder.run(list(ENCODER_OUTPUTS), {"pixel_values": pixels})
    with torch.no_grad():
        embedding = model.get_image_embeddings(torch.from_numpy(pixels))
    numpy_embedding = embedding.float().cpu().numpy()
    deviations.append(_deviation("encoder: image_embeddings", ours, numpy_embedding))
    decoder = session(os.path.join(directory, DECODER_FILE))
    lowres = session(os.path.join(directory, LOWRES_DECODER_FILE))
    orig_size = probe_size(side)
    batched: list[Deviation] = []
    for case in probe_cases(config):
        feeds = decoder_feeds(
            numpy_embedding, points=case["points"], labels=case["labels"], box=case["box"], mask=case["mask"],
            orig_size=orig_size, low_res_size=low_res,
        )  # fmt: skip
        masks, iou, low_res_masks = decoder.run(list(DECODER_OUTPUTS), feeds)
        logits, ref_iou = reference_decode(model, embedding, case)
        one = lowres_decoder_feeds(
            numpy_embedding, points=None if case["points"] is None else case["points"][None],
            labels=None if case["labels"] is None else case["labels"][None],
            boxes=None if case["box"] is None else case["box"][None], masks=case["mask"], low_res_size=low_res,
        )  # fmt: skip
        for name, value, reference in zip(LOWRES_DECODER_OUTPUTS, lowres.run(list(LOWRES_DECODER_OUTPUTS), one),
                                          (logits, ref_iou)):  # fmt: skip
            batched.append(_deviation(f"decoder_lowres {case['name']}: {name}", value, reference))
        if return_single_mask:
            logits, ref_iou = select_single_mask(logits, ref_iou, feeds["point_coords"].shape[1])
        ref_masks = upscale_masks(logits, orig_size, preprocess_shape(orig_size, side), (side, side))
        for name, value, reference in (("masks", masks, ref_masks), ("iou_predictions", iou, ref_iou),
                                       ("low_res_masks", low_res_masks, logits)):  # fmt: skip
            deviations.append(_deviation(f"decoder {case['name']}: {name}", value, reference))
    for case in batch_cases(config):
        feeds = lowres_decoder_feeds(
            numpy_embedding, points=case["points"], labels=case["labels"], boxes=case["boxes"], masks=case["masks"],
            low_res_size=low_res,
        )  # fmt: skip
        outputs = lowres.run(list(LOWRES_DECODER_OUTPUTS), feeds)
        for name, value, reference in zip(LOWRES_DECODER_OUTPUTS, outputs, reference_batch(model, embedding, case)):
            batched.append(_deviation(f"decoder_lowres {case['name']}: {name}", value, reference))
    deviations += batched
    if log is not None:
        for deviation in deviations:
            log(str(deviation))
    failed = [d for d in deviations if not d.ok]
    if failed:
        worst = max(failed, key=lambda d: d.max_abs_diff / d.bound)
        raise ExportCheckError(
            f"the ONNX export differs from the torch model in {len(failed)} of {len(deviations)} probe outputs "
            f"(worst: {worst.output} max|Δ| {worst.max_abs_diff:.3g} > {worst.bound:.3g})",
            deviations,
        )
    return deviations
