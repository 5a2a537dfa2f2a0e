"""SamProcessor: images plus point / box prompts -> SAM model inputs.

Prompts are given in original-image pixels and scaled per axis (new/old) into the resized frame, as transformers
does. Ragged point lists are padded with the point (0, 0) and the label -10, which the prompt encoder ignores.

Shape legend: B images, P prompts per image, N points per prompt, nb boxes per image.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .image_processing import SamImageProcessor
from .image_transforms import preprocess_shape
from .tensors import BatchFeature, to_numpy
from .validation import check_batch_size, validate_boxes, validate_labels, validate_points

PAD_POINT_LABEL = -10


class SamProcessor:
    """Wraps a SamImageProcessor and prepares points, labels and boxes for the model.

    Args:
        image_processor: the SamImageProcessor used for the images (default settings when None).
    """

    def __init__(self, image_processor: SamImageProcessor | None = None) -> None:
        if image_processor is None:
            image_processor = SamImageProcessor()
        if not isinstance(image_processor, SamImageProcessor):
            raise TypeError(f"image_processor must be a SamImageProcessor, got {type(image_processor).__name__}")
        self.image_processor = image_processor

    @property
    def target_size(self) -> int:
        """The longest edge images are resized to (1024); prompt coordinates live in that frame."""
        return int(self.image_processor.size["longest_edge"])

    def __call__(
        self,
        images: Any = None,
        segmentation_maps: Any = None,
        input_points: Any = None,
        input_labels: Any = None,
        input_boxes: Any = None,
        return_tensors: str | None = None,
        *,
        original_sizes: Any = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Processes images and prompts.

        Args:
            images: as for ``SamImageProcessor.preprocess``.
            segmentation_maps: optional (H, W) label maps, one per image.
            input_points: [image][prompt][point][x, y] (or [image][point][x, y] for one prompt per image) in
                original pixels; lists, arrays or tensors. The number of points may vary between prompts.
            input_labels: [image][prompt][point] (or [image][point]): 1 foreground, 0 background, -1 not a point.
            input_boxes: [image][box][x1, y1, x2, y2] in original pixels.
            return_tensors: None / "np" (numpy), "pt" or "tf".
            original_sizes: (B, 2) image sizes, only when ``images`` is None (prompts for cached embeddings).
            **kwargs: image-processor overrides (do_resize, size, ...).

        Returns:
            BatchFeature with the image outputs (pixel_values, original_sizes, reshaped_input_sizes[, labels])
            and, when given, input_points (B, P, N, 2) float32, input_labels (B, P, N) int64 and
            input_boxes (B, nb, 4) float32 in the resized frame. Without labels, input_labels is present only
            when ragged points had to be padded (real points get 1).
        """
        if images is not None:
            if original_sizes is not None:
                raise ValueError("pass either images or original_sizes, not both")
            encoding = self.image_processor(images, segmentation_maps=segmentation_maps, **kwargs)
            sizes = encoding["original_sizes"]
        elif original_sizes is None:
            raise ValueError("images is required (or original_sizes, to process prompts alone)")
        else:
            sizes = np.asarray(to_numpy(original_sizes), dtype=np.int64).reshape(-1, 2)
            encoding = BatchFeature(original_sizes=sizes)
        encoding.update(self._prompts(sizes, input_points, input_labels, input_boxes))
        return encoding.convert_to_tensors(return_tensors)

    def _prompts(
        self, sizes: np.ndarray, input_points: Any, input_labels: Any, input_boxes: Any
    ) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if input_labels is not None and input_points is None:
            raise ValueError("input_labels were given without input_points")
        if input_points is not None:
            points, implicit = validate_points(input_points, num_images=len(sizes))
            labels = None if input_labels is None else validate_labels(input_labels, points, implicit_prompt=implicit)
            out.update(self._pad_points(points, labels, sizes))
        if input_boxes is not None:
            boxes = validate_boxes(input_boxes, num_images=len(sizes))
            scaled = [self._scale(b.reshape(-1, 2, 2), size).reshape(-1, 4) for b, size in zip(boxes, sizes)]
            out["input_boxes"] = np.stack(scaled).astype(np.float32)
            if "input_points" in out and out["input_points"].shape[1] != out["input_boxes"].shape[1]:
                raise ValueError(
                    f"input_points has {out['input_points'].shape[1]} prompt(s) per image but input_boxes has "
                    f"{out['input_boxes'].shape[1]} box(es); points and boxes given together pair up one-to-one"
                )
        return out

    def _pad_points(
        self, points: list[list[np.ndarray]], labels: list[list[np.ndarray]] | None, sizes: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Scales every prompt's points and pads them to the largest N with (0, 0) / label -10."""
        check_batch_size("input_points", len(points), len(sizes))
        num_points = max(len(prompt) for image in points for prompt in image)
        ragged = any(len(prompt) != num_points for image in points for prompt in image)
        batch, prompts = len(points), len(points[0])
        coords = np.zeros((batch, prompts, num_points, 2), dtype=np.float64)
        pad_labels = np.full((batch, prompts, num_points), PAD_POINT_LABEL, dtype=np.int64)
        for b, (image, size) in enumerate(zip(points, sizes)):
            for p, prompt in enumerate(image):
                coords[b, p, : len(prompt)] = self._scale(prompt, size)
                pad_labels[b, p, : len(prompt)] = 1 if labels is None else labels[b][p]
        out = {"input_points": coords.astype(np.float32)}
        if labels is not None or ragged:
            out["input_labels"] = pad_labels
        return out

    def _scale(self, coords: np.ndarray, original_size: np.ndarray) -> np.ndarray:
        """(..., 2) x/y pixels of the original image -> the resized frame (float64, per-axis new/old)."""
        old_h, old_w = int(original_size[0]), int(original_size[1])
        new_h, new_w = preprocess_shape((old_h, old_w), self.target_size)
        scaled = np.array(coords, dtype=np.float64)
        scaled[..., 0] *= new_w / old_w
        scaled[..., 1] *= new_h / old_h
        return scaled

    def post_process_masks(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Same as ``SamImageProcessor.post_process_masks``."""
        return self.image_processor.post_process_masks(*args, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Writes preprocessor_config.json (all a SAM processor needs) into ``save_directory``."""
        return self.image_processor.save_pretrained(save_directory)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> SamProcessor:
        """Loads the image processor from a directory, Hub id or preset name (see SamImageProcessor)."""
        return cls(SamImageProcessor.from_pretrained(name_or_path, **kwargs))

    def __repr__(self) -> str:
        return f"SamProcessor(image_processor={self.image_processor!r})"
