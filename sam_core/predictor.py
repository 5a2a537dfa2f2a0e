"""SamPredictor: set an image once, then prompt it many times (Meta's segment-anything semantics).

Prompts are in original-image pixels; outputs are numpy. The image is resized (longer side to the model's
input size, PIL bilinear on uint8), normalized with ImageNet statistics in 0-255 units and zero-padded, as
Meta's predictor does, and encoded once; every prompt then runs only the prompt encoder and mask decoder.

Shape legend: H/W original image size, N points per prompt, P prompts, K masks per prompt (3 with
multimask_output, else 1), L low-res side (256), C/g embedding channels and grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from .amg.transforms import normalize_and_pad, resize_longest_side, scale_boxes, scale_coords
from .amg.upscale import MaskUpscaler, cached_upscaler
from .backend import as_backend
from .image_files import pil_to_array
from .image_transforms import preprocess_shape
from .tensors import to_numpy

#: SAM binarizes mask logits at 0.
MASK_THRESHOLD = 0.0


class ImageNotSetError(ValueError, RuntimeError):
    """Prediction was asked for before set_image (a ValueError, and a RuntimeError as in Meta's code)."""


def _as_rgb_array(image: Any, image_format: str) -> np.ndarray:
    """Validates a PIL image or (H, W, 3) uint8 array and returns it as RGB uint8."""
    if image_format not in ("RGB", "BGR"):
        raise ValueError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
    if isinstance(image, Image.Image):
        image = pil_to_array(image if image.mode == "RGB" else image.convert("RGB"))
    elif not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array or PIL image, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3) (channels last), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 with values in [0, 255], got dtype {image.dtype}")
    return np.ascontiguousarray(image[..., ::-1] if image_format == "BGR" else image)


def _float_array(value: Any, name: str, trailing: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape[array.ndim - len(trailing):] != trailing:
        raise ValueError(f"{name} must end in shape {trailing}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


class SamPredictor:
    """Repeated prompting of one image with a SAM model of either backend.

    Args:
        model: a ``sam_torch.SamModel``, a ``sam_tf.TFSamModel``, or any ``sam_core.backend.PredictionBackend``
            (ONNX Runtime and LiteRT runtimes; a transformers model wrapped in ``sam_torch.ModelBackend``).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.backend = as_backend(model)
        self.reset_image()

    # ----------------------------------------------------------------- image state
    def reset_image(self) -> None:
        """Forgets the current image and its embedding."""
        self.is_image_set = False
        self.features = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None
        self._upscaler: MaskUpscaler | None = None

    def set_image(self, image: Any, image_format: str = "RGB") -> None:
        """Encodes an image for the following predictions.

        Args:
            image: (H, W, 3) uint8 array or PIL image.
            image_format: "RGB" or "BGR", the channel order of ``image``.
        """
        rgb = _as_rgb_array(image, image_format)
        self.reset_image()
        resized = resize_longest_side(rgb, self.backend.image_size)
        self.features = self.backend.embed(normalize_and_pad(resized, self.backend.image_size))
        self.original_size = (int(rgb.shape[0]), int(rgb.shape[1]))
        self.input_size = (int(resized.shape[0]), int(resized.shape[1]))
        self.is_image_set = True

    def set_image_embedding(self, embedding: Any, original_size: tuple[int, int]) -> None:
        """Uses an image embedding computed elsewhere (e.g. by :func:`embed_images`, several images per encoder
        call) for the following predictions, as if ``set_image`` had encoded an image of ``original_size``.

        Args:
            embedding: (1, C, g, g) embedding, in the backend's native kind or numpy.
            original_size: (H, W) of the image it was computed from.
        """
        self.reset_image()
        self.features = embedding
        self.original_size = (int(original_size[0]), int(original_size[1]))
        self.input_size = preprocess_shape(self.original_size, self.backend.image_size)
        self.is_image_set = True

    def get_image_embedding(self) -> np.ndarray:
        """The (1, C, g, g) image embedding of the current image, as numpy."""
        self._require_image()
        return to_numpy(self.features)

    @property
    def upscaler(self) -> MaskUpscaler:
        """Maps (..., L, L) low-res logits of the current image to (..., H, W)."""
        self._require_image()
        if self._upscaler is None:
            self._upscaler = cached_upscaler(
                self.input_size, self.original_size, self.backend.image_size, self.backend.low_res_size
            )
        return self._upscaler

    def _require_image(self) -> None:
        if not self.is_image_set:
            raise ImageNotSetError("An image must be set with .set_image(...) before mask prediction.")

    # ----------------------------------------------------------------- prediction
    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicts masks for one prompt on the current image.

        Args:
            point_coords: (N, 2) xy in original-image pixels.
            point_labels: (N,) 1 foreground, 0 background (-1 not a point).
            box: (4,) or (1, 4) XYXY box in original-image pixels.
            mask_input: (1, L, L) low-res logits from an earlier prediction.
            multimask_output: three masks (True) or one.
            return_logits: return mask logits instead of binary masks.

        Returns:
            masks: (K, H, W) bool (float32 logits with return_logits).
            scores: (K,) float32 predicted IoUs.
            low_res_logits: (K, L, L) float32.
        """
        side = self.backend.low_res_size
        if point_coords is not None:
            point_coords = _float_array(point_coords, "point_coords", (2,))
            if point_coords.ndim != 2:
                raise ValueError(f"point_coords must have shape (N, 2), got {point_coords.shape}")
            point_coords = point_coords[None]
        if point_labels is not None:
            point_labels = np.asarray(point_labels)[None]
        if box is not None:
            box = _float_array(box, "box", (4,))
            if box.size != 4:
                raise ValueError(f"box must have shape (4,) or (1, 4), got {box.shape}")
            box = box.reshape(1, 4)
        if mask_input is not None:
            mask_input = np.asarray(mask_input, dtype=np.float32)
            if mask_input.shape != (1, side, side):
                raise ValueError(f"mask_input must have shape (1, {side}, {side}), got {mask_input.shape}")
            mask_input = mask_input[None]
        masks, scores, low_res = self.predict_batch(
            point_coords, point_labels, box, mask_input, multimask_output, return_logits
        )
        return masks[0], scores[0], low_res[0]

    def predict_batch(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicts masks for P prompts on the current image in one decoder call.

        Args:
            point_coords: (P, N, 2) xy in original-image pixels.
            point_labels: (P, N) labels.
            boxes: (P, 4) XYXY boxes in original-image pixels.
            mask_input: (P, 1, L, L) low-res logits per prompt, or (1, L, L) shared by all prompts.
            multimask_output: three masks per prompt (True) or one.
            return_logits: return mask logits instead of binary masks.

        Returns:
            masks: (P, K, H, W) bool (float32 logits with return_logits).
            scores: (P, K) float32.
            low_res_logits: (P, K, L, L) float32.
        """
        self._require_image()
        points, labels, boxes = self._check_prompts(point_coords, point_labels, boxes)
        if points is not None:
            points = scale_coords(points, self.original_size, self.backend.image_size)
        if boxes is not None:
            boxes = scale_boxes(boxes, self.original_size, self.backend.image_size)
        low_res, scores = self.decode(points, labels, boxes, mask_input, multimask_output=multimask_output)
        if return_logits:
            return self.upscaler(low_res), scores, low_res
        return self.upscaler.binarize(low_res, MASK_THRESHOLD), scores, low_res

    def decode(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        *,
        multimask_output: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Low-res prediction for prompts already in the model's resized frame (Meta's predict_torch).

        Args:
            point_coords: (P, N, 2) xy in the resized frame.
            point_labels: (P, N).
            boxes: (P, 4) XYXY in the resized frame.
            mask_input: (P, 1, L, L) or (1, L, L).
            multimask_output: three masks per prompt (True) or one.

        Returns:
            (P, K, L, L) float32 low-res logits and (P, K) float32 predicted IoUs.
        """
        self._require_image()
        counts = {len(a) for a in (point_coords, boxes) if a is not None}
        count = counts.pop() if counts else 1
        masks = self._check_mask_input(mask_input, count)
        if masks is not None and len(masks) > 1:
            # One prompt per image row: the decoder takes one mask input per image.
            wrap = lambda a: None if a is None else a[:, None]  # noqa: E731
            logits, scores = self.backend.decode(
                self.backend.repeat_embeddings(self.features, count),
                points=wrap(point_coords),
                labels=wrap(point_labels),
                boxes=wrap(boxes),
                masks=masks,
                multimask_output=multimask_output,
            )
            return logits[:, 0], scores[:, 0]
        wrap = lambda a: None if a is None else a[None]  # noqa: E731
        logits, scores = self.backend.decode(
            self.features,
            points=wrap(point_coords),
            labels=wrap(point_labels),
            boxes=wrap(boxes),
            masks=masks,
            multimask_output=multimask_output,
        )
        return logits[0], scores[0]

    # ----------------------------------------------------------------- validation
    def _check_prompts(self, point_coords, point_labels, boxes):
        if (point_coords is None) != (point_labels is None):
            raise ValueError("point_coords and point_labels must be given together")
        points = labels = None
        if point_coords is not None:
            points = _float_array(point_coords, "point_coords", (2,))
            labels = np.asarray(point_labels)
            if points.ndim != 3:
                raise ValueError(f"point_coords must have shape (P, N, 2), got {points.shape}")
            if labels.shape != points.shape[:2]:
                raise ValueError(f"point_labels must have shape {points.shape[:2]}, got {labels.shape}")
            if not np.isin(labels, (1, 0, -1)).all():
                raise ValueError("point_labels must be 1 (foreground), 0 (background) or -1 (not a point)")
            labels = labels.astype(np.int64)
        if boxes is not None:
            boxes = _float_array(boxes, "boxes", (4,)).reshape(-1, 4)
            height, width = self.original_size
            inside = (boxes >= 0).all(axis=1) & (boxes[:, [0, 2]] <= width).all(axis=1)
            inside &= (boxes[:, [1, 3]] <= height).all(axis=1)
            if not inside.all():
                raise ValueError(
                    f"boxes must lie inside the {width}x{height} image (0 <= x <= {width}, 0 <= y <= {height}), "
                    f"got {boxes[~inside].tolist()}"
                )
            if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
                raise ValueError(f"boxes must be [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1, got {boxes.tolist()}")
        if points is not None and boxes is not None and len(points) != len(boxes):
            raise ValueError(f"point_coords ({len(points)} prompts) and boxes ({len(boxes)}) must agree in number")
        return points, labels, boxes

    def _check_mask_input(self, mask_input, count: int) -> np.ndarray | None:
        if mask_input is None:
            return None
        side = self.backend.low_res_size
        masks = np.asarray(mask_input, dtype=np.float32)
        if masks.shape == (1, side, side):
            masks = masks[None]
        if masks.ndim != 4 or masks.shape[1:] != (1, side, side) or len(masks) not in (1, count):
            raise ValueError(
                f"mask_input must have shape (1, {side}, {side}) or ({count}, 1, {side}, {side}), got {masks.shape}"
            )
        if not np.isfinite(masks).all():
            raise ValueError("mask_input contains NaN or infinite values")
        return masks


def encoder_input(image: Any, image_size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB image -> (1, 3, S, S) float32 encoder input (resized, normalized, padded), the work a
    data-loading thread can do ahead of the model."""
    return normalize_and_pad(resize_longest_side(_as_rgb_array(image, "RGB"), image_size), image_size)


def embed_images(model: Any, pixels: list[np.ndarray]) -> list[Any]:
    """Encodes several images in one encoder call; returns one (1, C, g, g) native embedding per image, for
    :meth:`SamPredictor.set_image_embedding`.

    Args:
        model: a SAM model of any backend, or a PredictionBackend.
        pixels: (1, 3, S, S) encoder inputs from :func:`encoder_input`.
    """
    embeddings = as_backend(model).embed(np.concatenate(pixels, axis=0))
    return [embeddings[index : index + 1] for index in range(len(pixels))]
