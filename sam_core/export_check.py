"""The self-check of an export (ONNX from the torch backend, LiteRT from the Keras backend), framework-neutral: the
fixed probe (``sam_core.probe``) in Meta's decoder inputs, run through the exported encoder, Meta-signature decoder
and low-res decoder, each output compared with the framework model it came from. Each exporter hands in its runtime
and its model as plain functions on numpy arrays (``sam_torch.onnx_check``, ``sam_tf.tflite_check``).

Shape legend: P prompts, N points, K mask tokens, C embedding channels, g grid, L low-res side (4 g), S input side,
H/W original image size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .image_transforms import preprocess_shape, upscale_masks
from .onnx_signature import decoder_feeds, lowres_decoder_feeds
from .probe import Deviation, deviation, probe_inputs

#: (embedding (1, C, g, g), case) -> every mask token's (1, K, L, L) logits and (1, K) IoUs of the source model.
DecodeReference = Callable[[np.ndarray, dict[str, Any]], tuple[np.ndarray, np.ndarray]]
#: Meta's single-mask choice on the reference: (logits, iou, number of points) -> (1, 1, L, L), (1, 1).
SelectMask = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


class ExportCheckError(RuntimeError):
    """The runtime's outputs differ from the model's above the bound; ``deviations`` lists them all."""

    def __init__(self, message: str, deviations: list[Deviation]) -> None:
        super().__init__(message)
        self.deviations = deviations


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


def case_inputs(case: dict[str, Any]) -> dict[str, np.ndarray]:
    """One probe case as the model's keyword inputs for one image and one prompt: input_points (1, 1, N, 2),
    input_labels (1, 1, N), input_boxes (1, 1, 4), input_masks (1, 1, L, L), each only when the case has it."""
    inputs = {}
    if case["points"] is not None:
        inputs["input_points"] = np.asarray(case["points"], np.float32).reshape(1, 1, -1, 2)
        inputs["input_labels"] = np.asarray(case["labels"], np.int64).reshape(1, 1, -1)
    if case["box"] is not None:
        inputs["input_boxes"] = np.asarray(case["box"], np.float32).reshape(1, 1, 4)
    if case["mask"] is not None:
        inputs["input_masks"] = np.asarray(case["mask"], np.float32).reshape(1, 1, *case["mask"].shape[-2:])
    return inputs


def reference_batch(decode: DecodeReference, embedding: Any, case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The source model's forward on each prompt of a batched case: (P, K, L, L) logits and (P, K) IoUs."""
    count = len(case["points"] if case["points"] is not None else case["boxes"])
    outputs = [
        decode(embedding, {
            "points": None if case["points"] is None else case["points"][i],
            "labels": None if case["labels"] is None else case["labels"][i],
            "box": None if case["boxes"] is None else case["boxes"][i],
            "mask": None if case["masks"] is None else case["masks"][i % len(case["masks"])][None],
        })
        for i in range(count)
    ]  # fmt: skip
    return np.concatenate([logits for logits, _ in outputs]), np.concatenate([iou for _, iou in outputs])


def compare_export(
    config: Any,
    *,
    encoder: Callable[[np.ndarray], np.ndarray],
    decoder: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, ...]],
    lowres: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, ...]],
    embed_reference: Callable[[np.ndarray], Any],
    decode_reference: DecodeReference,
    rtol: float,
    select_single_mask: SelectMask | None = None,
) -> list[Deviation]:
    """Runs an export on the probe and compares every output with the source model's.

    The encoder gets verify's probe image; the decoders get the model's embedding of it and every probe case in
    Meta's point format, Meta's with a non-square ``orig_im_size``. ``masks`` is compared with the reference logits
    upscaled by ``sam_core.image_transforms.upscale_masks``. The low-res decoder also gets the batched cases
    (:func:`batch_cases`), against the model's forward on each of their prompts.

    Args:
        config: the exported model's SamConfig.
        encoder: pixel_values (1, 3, S, S) -> the export's image_embeddings (1, C, g, g).
        decoder: Meta's decoder feeds -> (masks, iou_predictions, low_res_masks).
        lowres: the low-res decoder's feeds -> (low_res_masks, iou_predictions).
        embed_reference: pixel_values -> the model's embedding, in whatever kind ``decode_reference`` takes.
        decode_reference: see :data:`DecodeReference`.
        rtol: each output's bound is rtol * max(1, max|ref|).
        select_single_mask: the decoder returns one mask (Meta's choice), applied to the reference.

    Returns:
        every comparison, the encoder's first, then Meta's decoder's, then the low-res decoder's.
    """
    low_res = 4 * config.vision_config.grid_size
    pixels, _ = probe_inputs(config)
    reference = embed_reference(pixels)
    embedding = np.asarray(reference, np.float32)
    deviations = [deviation("encoder: image_embeddings", encoder(pixels), embedding, rtol)]
    orig_size = probe_size(config.vision_config.image_size)
    side = config.vision_config.image_size
    batched: list[Deviation] = []
    for case in probe_cases(config):
        feeds = decoder_feeds(
            embedding, points=case["points"], labels=case["labels"], box=case["box"], mask=case["mask"],
            orig_size=orig_size, low_res_size=low_res,
        )  # fmt: skip
        masks, iou, low_res_masks = decoder(feeds)
        logits, ref_iou = decode_reference(reference, case)
        one = lowres_decoder_feeds(
            embedding, points=None if case["points"] is None else case["points"][None],
            labels=None if case["labels"] is None else case["labels"][None],
            boxes=None if case["box"] is None else case["box"][None], masks=case["mask"], low_res_size=low_res,
        )  # fmt: skip
        for name, value, expected in zip(("low_res_masks", "iou_predictions"), lowres(one), (logits, ref_iou)):
            batched.append(deviation(f"decoder_lowres {case['name']}: {name}", value, expected, rtol))
        if select_single_mask is not None:
            logits, ref_iou = select_single_mask(logits, ref_iou, feeds["point_coords"].shape[1])
        ref_masks = upscale_masks(logits, orig_size, preprocess_shape(orig_size, side), (side, side))
        for name, value, expected in (("masks", masks, ref_masks), ("iou_predictions", iou, ref_iou),
                                      ("low_res_masks", low_res_masks, logits)):  # fmt: skip
            deviations.append(deviation(f"decoder {case['name']}: {name}", value, expected, rtol))
    for case in batch_cases(config):
        feeds = lowres_decoder_feeds(
            embedding, points=case["points"], labels=case["labels"], boxes=case["boxes"], masks=case["masks"],
            low_res_size=low_res,
        )  # fmt: skip
        expected = reference_batch(decode_reference, reference, case)
        for name, value, want in zip(("low_res_masks", "iou_predictions"), lowres(feeds), expected):
            batched.append(deviation(f"decoder_lowres {case['name']}: {name}", value, want, rtol))
    return deviations + batched


def raise_on_failure(deviations: list[Deviation], what: str, log: Callable[[str], None] | None = None) -> None:
    """Logs every comparison and raises ExportCheckError naming the worst failed one.

    Args:
        what: the subject of the message, e.g. "the ONNX export differs from the torch model".
    """
    if log is not None:
        for entry in deviations:
            log(str(entry))
    failed = [d for d in deviations if not d.ok]
    if failed:
        worst = max(failed, key=lambda d: d.max_abs_diff / d.bound)
        raise ExportCheckError(
            f"{what} in {len(failed)} of {len(deviations)} probe outputs "
            f"(worst: {worst.output} max|Δ| {worst.max_abs_diff:.3g} > {worst.bound:.3g})",
            deviations,
        )
