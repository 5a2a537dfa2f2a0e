"""Meta's ONNX signature of SAM (segment-anything's ``scripts/export_onnx_model.py``), as data: the names and
shapes of the exported image encoder and prompt decoder, the export's manifest, and the numpy feeds that put one
prompt into Meta's point format. Shared by the exporter (``sam_torch.onnx_export``) and the runtime backends
(``dualsam.runtimes``), so neither needs the other's framework.

Meta's decoder takes every prompt as points: ``point_coords (1, N, 2)`` xy in the resized S frame and
``point_labels (1, N)`` float codes -1 padding point, 0 background, 1 foreground, 2 box top-left, 3 box
bottom-right. Without a box a padding point (0, 0) with label -1 ends the list (as the model's own prompt encoder
adds). The dense prompt is ``mask_input (1, 1, L, L)`` switched on by ``has_mask_input (1,)``, and
``orig_im_size (2,)`` (h, w) sizes the upscaled ``masks``. Our export also reads transformers' -10 (a padded point:
a zero embedding), a code Meta's model does not know.

Beside Meta's decoder the export holds ``decoder_lowres.onnx``: the same prompt format for P prompts on one image in
one run (``point_coords (P, N, 2)``, ``point_labels (P, N)``, ``mask_input (M, 1, L, L)`` and ``has_mask_input (M,)``
with M = P or 1), returning only ``low_res_masks (P, K, L, L)`` and ``iou_predictions (P, K)``; the runtime backends
decode with it.

Shape legend: P prompts, M mask inputs (1 or P), N points per prompt, K mask tokens (num_multimask_outputs + 1),
C embedding channels, g embedding grid, L low-res mask side (4 g), S input side, H/W original image size.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from .amg.transforms import PIXEL_MEAN, PIXEL_STD
from .config import SamConfig

MANIFEST_NAME = "dualsam_export.json"
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
INT8_SUFFIX = ".int8.onnx"
ENCODER_INPUTS = ("pixel_values",)
ENCODER_OUTPUTS = ("image_embeddings",)
DECODER_INPUTS = ("image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size")
DECODER_OUTPUTS = ("masks", "iou_predictions", "low_res_masks")
LOWRES_DECODER_FILE = "decoder_lowres.onnx"
LOWRES_DECODER_INPUTS = DECODER_INPUTS[:5]
LOWRES_DECODER_OUTPUTS = ("low_res_masks", "iou_predictions")
#: Meta's point-label codes (transformers' -10 padding is read too).
LABEL_CODES = {
    "padding point": -1, "background point": 0, "foreground point": 1, "box top-left": 2, "box bottom-right": 3,
    "transformers padding (zero embedding)": -10,
}  # fmt: skip
PAD_POINT_LABEL = -1
BOX_LABELS = (2, 3)


def encoder_shapes(config: SamConfig) -> dict[str, list]:
    """Input and output name -> shape of the encoder graph."""
    side, vision = config.vision_config.image_size, config.vision_config
    return {"pixel_values": [1, vision.num_channels, side, side],
            "image_embeddings": [1, vision.output_channels, vision.grid_size, vision.grid_size]}  # fmt: skip


def decoder_shapes(config: SamConfig, return_single_mask: bool = False) -> dict[str, list]:
    """Input and output name -> shape of the decoder graph (strings name the dynamic axes)."""
    vision = config.vision_config
    grid, low_res = vision.grid_size, 4 * vision.grid_size
    masks = 1 if return_single_mask else config.mask_decoder_config.num_multimask_outputs + 1
    return {
        "image_embeddings": [1, vision.output_channels, grid, grid],
        "point_coords": [1, "num_points", 2],
        "point_labels": [1, "num_points"],
        "mask_input": [1, 1, low_res, low_res],
        "has_mask_input": [1],
        "orig_im_size": [2],
        "masks": [1, masks, "orig_height", "orig_width"],
        "iou_predictions": [1, masks],
        "low_res_masks": [1, masks, low_res, low_res],
    }


def lowres_decoder_shapes(config: SamConfig) -> dict[str, list]:
    """Input and output name -> shape of the low-res decoder graph (strings name the dynamic axes)."""
    vision = config.vision_config
    grid, low_res = vision.grid_size, 4 * vision.grid_size
    masks = config.mask_decoder_config.num_multimask_outputs + 1
    return {
        "image_embeddings": [1, vision.output_channels, grid, grid],
        "point_coords": ["num_prompts", "num_points", 2],
        "point_labels": ["num_prompts", "num_points"],
        "mask_input": ["num_masks (1 or num_prompts)", 1, low_res, low_res],
        "has_mask_input": ["num_masks (1 or num_prompts)"],
        "low_res_masks": ["num_prompts", masks, low_res, low_res],
        "iou_predictions": ["num_prompts", masks],
    }


def preprocessing(config: SamConfig) -> dict[str, Any]:
    """What a caller of the encoder does to an image first (Meta's ResizeLongestSide and normalization)."""
    return {
        "image_size": config.vision_config.image_size,
        "resize": "longest side to image_size: scale = image_size / max(h, w), new = int(x * scale + 0.5) per "
        "axis, PIL bilinear on the uint8 RGB image",
        "pixel_mean": [float(v) for v in PIXEL_MEAN],
        "pixel_std": [float(v) for v in PIXEL_STD],
        "normalize": "(pixel - pixel_mean) / pixel_std on 0-255 values (ImageNet mean and std times 255)",
        "pad": "zeros at the bottom and right to image_size x image_size, after normalizing",
        "layout": "NCHW float32",
        "prompts": "point and box coordinates scaled by the same factor (resized / original per axis)",
    }


def meta_points(
    points: np.ndarray | None, labels: np.ndarray | None, box: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """One prompt in Meta's point format: points, then the box's two corners (labels 2, 3), or a padding point.

    Args:
        points: (N, 2) xy in the S frame, or None.
        labels: (N,) labels of ``points``.
        box: (4,) XYXY in the S frame, or None.

    Returns:
        point_coords (1, N', 2) and point_labels (1, N') float32.
    """
    return meta_points_batch(
        None if points is None else np.asarray(points).reshape(1, -1, 2),
        None if labels is None else np.asarray(labels).reshape(1, -1),
        None if box is None else np.asarray(box).reshape(1, 4),
    )  # fmt: skip


def meta_points_batch(
    points: np.ndarray | None, labels: np.ndarray | None, boxes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """P prompts in Meta's point format (see :func:`meta_points`); with neither points nor boxes, one empty prompt.

    Args:
        points: (P, N, 2) xy in the S frame, or None.
        labels: (P, N) labels of ``points``.
        boxes: (P, 4) XYXY in the S frame, or None.

    Returns:
        point_coords (P, N', 2) and point_labels (P, N') float32.
    """
    prompts = next((len(a) for a in (points, boxes) if a is not None), 1)
    coords = [np.zeros((prompts, 0, 2), np.float32)]
    codes = [np.zeros((prompts, 0), np.float32)]
    if points is not None:
        coords.append(np.asarray(points, np.float32).reshape(prompts, -1, 2))
        codes.append(np.asarray(labels, np.float32).reshape(prompts, -1))
    if boxes is not None:
        coords.append(np.asarray(boxes, np.float32).reshape(prompts, 2, 2))
        codes.append(np.broadcast_to(np.asarray(BOX_LABELS, np.float32), (prompts, 2)))
    elif points is not None:
        coords.append(np.zeros((prompts, 1, 2), np.float32))
        codes.append(np.full((prompts, 1), PAD_POINT_LABEL, np.float32))
    return np.concatenate(coords, axis=1), np.concatenate(codes, axis=1)


def decoder_feeds(
    embedding: np.ndarray,
    *,
    points: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    box: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    orig_size: tuple[int, int],
    low_res_size: int,
) -> dict[str, np.ndarray]:
    """The decoder graph's inputs for one prompt on one image.

    Args:
        embedding: (1, C, g, g) image embedding.
        points, labels, box: see :func:`meta_points`; no points and no box give N = 0 (a mask-only prompt).
        mask: (1, L, L) or (1, 1, L, L) mask-input logits, or None.
        orig_size: (H, W) that ``masks`` is upscaled to.
        low_res_size: L.
    """
    coords, codes = meta_points(points, labels, box)
    if mask is None:
        mask_input = np.zeros((1, 1, low_res_size, low_res_size), np.float32)
    else:
        mask_input = np.asarray(mask, np.float32).reshape(1, 1, low_res_size, low_res_size)
    return {
        "image_embeddings": np.ascontiguousarray(embedding, dtype=np.float32),
        "point_coords": coords,
        "point_labels": codes,
        "mask_input": mask_input,
        "has_mask_input": np.array([0.0 if mask is None else 1.0], np.float32),
        "orig_im_size": np.array(orig_size, np.float32),
    }


def lowres_decoder_feeds(
    embedding: np.ndarray,
    *,
    points: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    low_res_size: int,
) -> dict[str, np.ndarray]:
    """The low-res decoder graph's inputs for P prompts on one image.

    Args:
        embedding: (1, C, g, g) image embedding.
        points, labels, boxes: see :func:`meta_points_batch`.
        masks: (M, L, L) or (M, 1, L, L) mask-input logits, M = 1 (one for every prompt) or P; or None.
        low_res_size: L.
    """
    coords, codes = meta_points_batch(points, labels, boxes)
    if masks is None:
        mask_input = np.zeros((1, 1, low_res_size, low_res_size), np.float32)
    else:
        mask_input = np.asarray(masks, np.float32).reshape(-1, 1, low_res_size, low_res_size)
    return {
        "image_embeddings": np.ascontiguousarray(embedding, dtype=np.float32),
        "point_coords": coords,
        "point_labels": codes,
        "mask_input": mask_input,
        "has_mask_input": np.full((len(mask_input),), 0.0 if masks is None else 1.0, np.float32),
    }


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """The export's ``dualsam_export.json``.

    Raises:
        FileNotFoundError: no manifest in ``directory``.
        ValueError: the manifest is not a JSON object with ``config`` and ``files``.
    """
    path = os.path.join(directory, MANIFEST_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{directory} is not a dualsam ONNX export: {MANIFEST_NAME} is missing")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    if not isinstance(manifest, dict) or not {"config", "files"} <= set(manifest):
        raise ValueError(f"{path} is not a dualsam export manifest (it needs 'config' and 'files')")
    return manifest
