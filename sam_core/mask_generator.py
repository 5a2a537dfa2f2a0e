"""SamAutomaticMaskGenerator: segment everything in an image with a grid of point prompts (Meta's AMG).

Per crop and per batch of points, the work is ordered so that memory stays bounded and results stay exact:

1. The predicted-IoU filter needs only the decoder's scores, so it runs first, on the low-res batch.
2. Upscaling is linear with non-negative weights summing to 1, so every full-size pixel lies between the
   min and max of a small window of low-res cells. That bounds both pixel counts of the stability score
   without upscaling (MaskUpscaler.count_bounds); a mask whose score is surely below the threshold is dropped
   at low res. The decision is exact: only masks that would fail Meta's full-size test are dropped.
3. Everything else (the exact stability score, binarization, box, crop-edge test) depends on the upscaled
   pixels, so the remaining masks are upscaled in chunks of at most UPSCALE_CHUNK_BYTES of bool masks, held as
   their columns (the float32 logits come in blocks of columns from MaskUpscaler.column_chunks, counted and
   binarized as they come). Each chunk is reduced at once to runs, boxes and RLE in the image frame
   (amg.column_runs), filtered, and kept only as RLE with compact counts, its box and scores.
4. The box NMS runs on the boxes once every batch of the crop is done; only then are the survivors' masks
   decoded, and only as far as the output mode needs.

Nothing ever holds a full-resolution mask for every grid point, nor full-resolution float logits: at most one
chunk of bool masks and one block of logits, plus the RLEs of the masks that passed the filters (about 4 bytes
a run). The decoder's working memory is bounded by the backend (it decodes a batch in slices of prompts).

Shape legend: H/W image size, h/w crop size, P points per batch, K masks per point (3), L low-res side (256).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .amg.crops import crop_boxes_and_layers
from .amg.filtering import crop_nms_scores, filter_column_masks, iou_keep, upscale_columns_and_stability
from .amg.grids import build_all_layer_point_grids
from .amg.nms import batched_nms
from .amg.packed_rle import PackedRle
from .amg.regions import postprocess_small_regions
from .amg.rle import area_from_rle, coco_encode_rle, rle_to_mask
from .amg.scoring import box_xyxy_to_xywh
from .amg.transforms import scale_coords
from .predictor import MASK_THRESHOLD, SamPredictor, _as_rgb_array

#: The most bytes of full-resolution bool masks upscaled and filtered at once (their float32 logits are produced in
#: smaller pieces, see MaskUpscaler.column_chunks).
UPSCALE_CHUNK_BYTES = 16 * 2**20
#: The most bytes of one batch's low-res logits (3 masks a point) when points_per_batch is None.
BATCH_LOW_RES_BYTES = 64 * 2**20
#: The most bytes of low-res logits whose stability bounds are computed at once.
BOUNDS_CHUNK_BYTES = 8 * 2**20
OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


class _MaskSet:
    """Column store of surviving masks: RLEs (packed until the NMS is done) plus per-mask arrays, filtered and
    concatenated together."""

    FIELDS = ("boxes", "iou_preds", "stability", "points", "crop_boxes")

    def __init__(self) -> None:
        self.rles: list[PackedRle | dict] = []
        self.boxes = np.zeros((0, 4), dtype=np.int64)
        self.iou_preds = np.zeros(0, dtype=np.float32)
        self.stability = np.zeros(0, dtype=np.float32)
        self.points = np.zeros((0, 2), dtype=np.float64)
        self.crop_boxes = np.zeros((0, 4), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rles)

    def extend(self, other: _MaskSet) -> None:
        self.rles.extend(other.rles)
        for field in self.FIELDS:
            setattr(self, field, np.concatenate([getattr(self, field), getattr(other, field)]))

    def filter(self, keep: np.ndarray) -> None:
        """Keeps the masks at indices ``keep``, in that order."""
        self.rles = [self.rles[i] for i in keep]
        for field in self.FIELDS:
            setattr(self, field, getattr(self, field)[keep])


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class SamAutomaticMaskGenerator:
    """Generates masks for a whole image by prompting SAM with a point grid, optionally on image crops.

    Args (Meta's parameters and defaults):
        model: a ``sam_torch.SamModel`` or ``sam_tf.TFSamModel``.
        points_per_side: grid points along each side of the image (layer 0); None when point_grids is given.
        points_per_batch: points decoded together; None: as many as fit BATCH_LOW_RES_BYTES of low-res logits (85
            for SAM's 256 x 256 logits, 341 for the default model's). The decoder works on slices of a batch and the
            full-size work on chunks of it, so the batch only sets how many low-res logits are held at once.
        pred_iou_thresh: keep masks whose predicted IoU is above this.
        stability_score_thresh: keep masks whose stability score is at least this.
        stability_score_offset: the logit offset of the stability score.
        box_nms_thresh: box IoU threshold of the NMS within a crop.
        crop_n_layers: layers of crops below the full image (layer i has (2**i)**2 crops).
        crop_nms_thresh: box IoU threshold of the NMS across crops.
        crop_overlap_ratio: the overlap of layer-1 crops as a fraction of the shorter image side.
        crop_n_points_downscale_factor: layer i has points_per_side / factor**i points a side.
        point_grids: explicit normalized grids, one (N_i, 2) array per layer (instead of points_per_side).
        min_mask_region_area: fill holes and drop islands smaller than this many pixels (needs scipy).
        output_mode: "binary_mask", "uncompressed_rle" or "coco_rle" (needs pycocotools).
        progress: show a tqdm bar over point batches; None shows it when stderr is a terminal; a callable is called
            as ``progress(batches_done, batches_total)`` after each batch instead (a server's job progress).
    """

    def __init__(
        self,
        model: Any,
        points_per_side: int | None = 32,
        points_per_batch: int | None = None,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        progress: bool | Callable[[int, int], None] | None = None,
    ) -> None:
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("Exactly one of points_per_side and point_grids must be given (set the other to None).")
        if not isinstance(crop_n_layers, (int, np.integer)) or isinstance(crop_n_layers, bool) or crop_n_layers < 0:
            raise ValueError(f"crop_n_layers must be a non-negative integer, got {crop_n_layers!r}")
        if points_per_batch is not None:
            _check_positive_int("points_per_batch", points_per_batch)
        _check_positive_int("crop_n_points_downscale_factor", crop_n_points_downscale_factor)
        if points_per_side is not None:
            _check_positive_int("points_per_side", points_per_side)
            if int(points_per_side / crop_n_points_downscale_factor**crop_n_layers) < 1:
                raise ValueError(
                    f"points_per_side={points_per_side} leaves no points on crop layer {crop_n_layers} with "
                    f"crop_n_points_downscale_factor={crop_n_points_downscale_factor}"
                )
            point_grids = build_all_layer_point_grids(points_per_side, crop_n_layers, crop_n_points_downscale_factor)
        self.point_grids = self._check_point_grids(point_grids, crop_n_layers)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        if min_mask_region_area < 0:
            raise ValueError(f"min_mask_region_area must be >= 0, got {min_mask_region_area}")
        if output_mode == "coco_rle":
            from .amg.rle import _pycocotools_mask

            _pycocotools_mask()
        if min_mask_region_area > 0:
            from .amg.regions import _label

            _label(np.zeros((1, 1), dtype=bool))
        self.predictor = SamPredictor(model)
        if points_per_batch is None:
            low_res = self.predictor.backend.low_res_size
            points_per_batch = max(1, BATCH_LOW_RES_BYTES // (3 * 4 * low_res * low_res))
        self.points_per_batch = int(points_per_batch)
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = int(crop_n_layers)
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = int(crop_n_points_downscale_factor)
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode
        self.progress = progress

    @staticmethod
    def _check_point_grids(point_grids: list[np.ndarray], crop_n_layers: int) -> list[np.ndarray]:
        grids = [np.asarray(grid, dtype=np.float64) for grid in point_grids]
        if len(grids) != crop_n_layers + 1:
            raise ValueError(f"point_grids must hold crop_n_layers + 1 = {crop_n_layers + 1} grids, got {len(grids)}")
        for index, grid in enumerate(grids):
            if grid.ndim != 2 or grid.shape[1] != 2 or len(grid) == 0:
                raise ValueError(f"point_grids[{index}] must have shape (N, 2) with N > 0, got {grid.shape}")
            if not np.isfinite(grid).all() or grid.min() < 0 or grid.max() > 1:
                raise ValueError(f"point_grids[{index}] must hold normalized coordinates in [0, 1]")
        return grids

    # ------------------------------------------------------------------------------------------------ public
    def generate(self, image: Any, image_embedding: Any = None) -> list[dict[str, Any]]:
        """Segments everything in ``image``.

        Args:
            image: (H, W, 3) uint8 RGB array or PIL image.
            image_embedding: the whole image's (1, C, g, g) embedding when it was computed already (a batched
                encoder call, ``sam_core.predictor.embed_images``); crops are always encoded here.

        Returns:
            One record per mask (Meta's format): ``segmentation`` ((H, W) bool array, or an RLE dict per
            output_mode), ``area`` (pixels), ``bbox`` (XYWH), ``predicted_iou``, ``point_coords`` ([[x, y]]),
            ``stability_score`` and ``crop_box`` (XYWH). Empty when no mask survives.
        """
        image = _as_rgb_array(image, "RGB")
        masks = self._generate_masks(image, image_embedding)
        masks.rles = [packed.unpack() for packed in masks.rles]  # only the masks that the NMS kept
        if self.min_mask_region_area > 0 and len(masks):
            nms_thresh = max(self.box_nms_thresh, self.crop_nms_thresh)
            keep, masks.rles, masks.boxes = postprocess_small_regions(
                masks.rles, masks.boxes, self.min_mask_region_area, nms_thresh
            )
            masks.filter(keep)
        return [self._record(masks, index) for index in range(len(masks))]

    # ------------------------------------------------------------------------------------------------ steps
    def _record(self, masks: _MaskSet, index: int) -> dict[str, Any]:
        rle = masks.rles[index]
        if self.output_mode == "binary_mask":
            segmentation = rle_to_mask(rle)
        else:
            rle = {"size": list(rle["size"]), "counts": np.asarray(rle["counts"]).tolist()}  # Meta's plain lists
            segmentation = coco_encode_rle(rle) if self.output_mode == "coco_rle" else rle
        return {
            "segmentation": segmentation,
            "area": area_from_rle(rle),
            "bbox": box_xyxy_to_xywh(masks.boxes[index]).tolist(),
            "predicted_iou": float(masks.iou_preds[index]),
            "point_coords": [masks.points[index].tolist()],
            "stability_score": float(masks.stability[index]),
            "crop_box": box_xyxy_to_xywh(masks.crop_boxes[index]).tolist(),
        }

    def _progress_bar(self, total: int):
        if callable(self.progress):
            return _CallbackBar(self.progress, total)
        enabled = self.progress if self.progress is not None else sys.stderr.isatty()
        if not enabled:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="point batches", unit="batch")

    def _generate_masks(self, image: np.ndarray, image_embedding: Any = None) -> _MaskSet:
        image_size = (int(image.shape[0]), int(image.shape[1]))
        crop_boxes, layers = crop_boxes_and_layers(image_size, self.crop_n_layers, self.crop_overlap_ratio)
        total = sum(math.ceil(len(self.point_grids[layer]) / self.points_per_batch) for layer in layers)
        bar = self._progress_bar(total)
        masks = _MaskSet()
        try:
            for crop_box, layer in zip(crop_boxes, layers):
                embedding = image_embedding if layer == 0 else None
                masks.extend(self._process_crop(image, crop_box, layer, bar, embedding))
        finally:
            if bar is not None:
                bar.close()
        if len(crop_boxes) > 1 and len(masks):
            keep = batched_nms(
                masks.boxes, crop_nms_scores(masks.crop_boxes), np.zeros(len(masks), np.int64), self.crop_nms_thresh
            )
            masks.filter(keep)
        return masks

    def _process_crop(self, image: np.ndarray, crop_box: list[int], layer: int, bar, embedding: Any = None) -> _MaskSet:
        x0, y0, x1, y1 = crop_box
        cropped = image[y0:y1, x0:x1]
        crop_size = cropped.shape[:2]
        if embedding is not None:
            self.predictor.set_image_embedding(embedding, crop_size)
        else:
            self.predictor.set_image(cropped)
        points = self.point_grids[layer] * np.array(crop_size[::-1], dtype=np.float64)[None, :]
        masks = _MaskSet()
        for start in range(0, len(points), self.points_per_batch):
            masks.extend(self._process_batch(points[start : start + self.points_per_batch], crop_box, image.shape[:2]))
            if bar is not None:
                bar.update(1)
        self.predictor.reset_image()
        keep = batched_nms(masks.boxes, masks.iou_preds, np.zeros(len(masks), np.int64), self.box_nms_thresh)
        masks.filter(keep)
        masks.points = masks.points + np.array([x0, y0], dtype=np.float64)
        masks.crop_boxes = np.tile(np.asarray(crop_box, dtype=np.int64), (len(masks), 1))
        return masks

    def _may_be_stable(self, low_res: np.ndarray) -> np.ndarray:
        """(M,) bool: False only for masks whose stability score is surely below the threshold.

        The stability score is |upscaled > t + offset| / |upscaled > t - offset|; MaskUpscaler.count_bounds
        bounds both counts from the low-res logits, so inner_upper / outer_lower bounds the score from above
        (float32 division is monotone, as in the exact test). No inner pixel at all means a score of 0 or 0/0.
        """
        upscaler, offset = self.predictor.upscaler, self.stability_score_offset
        step = max(1, BOUNDS_CHUNK_BYTES // (4 * low_res[0].size))  # count_bounds holds several times its input
        pieces = [low_res[start : start + step] for start in range(0, len(low_res), step)]
        inner_upper = np.concatenate([upscaler.count_bounds(piece, MASK_THRESHOLD + offset)[1] for piece in pieces])
        outer_lower = np.concatenate([upscaler.count_bounds(piece, MASK_THRESHOLD - offset)[0] for piece in pieces])
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = inner_upper.astype(np.float32) / outer_lower.astype(np.float32)
        surely_unstable = (inner_upper == 0) | ((outer_lower > 0) & (bound < np.float32(self.stability_score_thresh)))
        return ~surely_unstable

    def _process_batch(self, points: np.ndarray, crop_box: list[int], image_size: tuple[int, int]) -> _MaskSet:
        """Decodes one batch of (P, 2) crop-frame points and keeps the masks that pass every filter."""
        predictor = self.predictor
        resized = scale_coords(points, predictor.original_size, predictor.backend.image_size)
        labels = np.ones((len(points), 1), dtype=np.int64)
        low_res, iou = predictor.decode(resized[:, None, :], labels, multimask_output=True)  # (P,K,L,L), (P,K)
        per_point = low_res.shape[1]
        low_res = low_res.reshape(-1, *low_res.shape[-2:])
        iou = iou.reshape(-1)
        candidates = np.flatnonzero(iou_keep(iou, self.pred_iou_thresh))
        if self.stability_score_thresh > 0.0 and len(candidates):
            candidates = candidates[self._may_be_stable(low_res[candidates])]
        crop_h, crop_w = predictor.original_size
        chunk = max(1, UPSCALE_CHUNK_BYTES // ((crop_h + 2) * crop_w))
        masks = _MaskSet()
        for start in range(0, len(candidates), chunk):
            index = candidates[start : start + chunk]
            columns, stability = upscale_columns_and_stability(
                predictor.upscaler, low_res[index], MASK_THRESHOLD, self.stability_score_offset
            )
            kept = filter_column_masks(
                columns,
                stability,
                iou[index],
                crop_box=crop_box,
                image_size=image_size,
                stability_score_thresh=self.stability_score_thresh,
            )
            part = _MaskSet()
            part.rles = [PackedRle.pack(rle) for rle in kept.rles]
            part.boxes, part.iou_preds = kept.boxes, kept.iou_scores
            part.stability = kept.stability
            part.points = points[index[kept.indices] // per_point]
            part.crop_boxes = np.zeros((len(kept.rles), 4), dtype=np.int64)
            masks.extend(part)
        return masks


class _CallbackBar:
    """The progress bar's ``update`` / ``close`` as calls of ``callback(done, total)``."""

    def __init__(self, callback: Callable[[int, int], None], total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0
        callback(0, total)

    def update(self, count: int) -> None:
        self.done += count
        self.callback(self.done, self.total)

    def close(self) -> None:
        """Nothing to release."""
