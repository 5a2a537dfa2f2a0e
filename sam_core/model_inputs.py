"""Shape checks of the model's forward inputs, shared by both backends so they raise the same errors.

The backends pass plain shape tuples (never tensors), so this module stays framework-free.
Shape legend: B images, P prompts per image, N points per prompt, S image size, g embedding grid.
"""

from __future__ import annotations

from typing import Any

Shape = tuple[int, ...]


def check_pixel_values_shape(shape: Shape, image_size: int, num_channels: int = 3) -> None:
    """Raises ValueError unless ``shape`` is (B, num_channels, image_size, image_size) with B >= 1."""
    expected = f"(batch, {num_channels}, {image_size}, {image_size})"
    if len(shape) != 4 or shape[1] != num_channels or shape[2] != image_size or shape[3] != image_size:
        raise ValueError(
            f"pixel_values must have shape {expected} (channels first, padded by SamProcessor), got {tuple(shape)}"
        )
    _check_not_empty("pixel_values", shape, axis=0, what="image")


def _check_not_empty(name: str, shape: Shape, axis: int, what: str) -> None:
    """Raises ValueError when ``shape[axis]`` is 0 (an unknown (None) size, as in a traced signature, passes)."""
    if shape[axis] == 0:
        raise ValueError(f"{name} holds no {what}: size 0 on axis {axis} of shape {tuple(shape)}")


def check_model_inputs(
    config: Any,
    *,
    pixel_values: Shape | None = None,
    image_embeddings: Shape | None = None,
    input_points: Shape | None = None,
    input_labels: Shape | None = None,
    input_boxes: Shape | None = None,
    input_masks: Shape | None = None,
) -> None:
    """Validates the shapes given to ``SamModel.forward`` / ``TFSamModel.call``.

    Args:
        config: a SamConfig.
        pixel_values: (B, 3, S, S).
        image_embeddings: (B, output_channels, g, g).
        input_points: (B, P, N, 2).
        input_labels: (B, P, N).
        input_boxes: (B, P, 4).
        input_masks: (B, 1, 4g, 4g).

    Raises:
        ValueError: naming the argument and the expected shape.
    """
    vision = config.vision_config
    grid = vision.grid_size
    if pixel_values is None and image_embeddings is None:
        raise ValueError("Either pixel_values or image_embeddings must be provided.")
    if pixel_values is not None and image_embeddings is not None:
        raise ValueError("Only one of pixel_values and image_embeddings can be provided.")
    if pixel_values is not None:
        check_pixel_values_shape(pixel_values, vision.image_size, vision.num_channels)
        batch = pixel_values[0]
    else:
        expected = (vision.output_channels, grid, grid)
        if len(image_embeddings) != 4 or tuple(image_embeddings[1:]) != expected:
            raise ValueError(
                f"image_embeddings must have shape (batch, {', '.join(map(str, expected))}), "
                f"got {tuple(image_embeddings)}"
            )
        _check_not_empty("image_embeddings", image_embeddings, axis=0, what="image")
        batch = image_embeddings[0]
    if input_points is not None:
        if len(input_points) != 4 or input_points[-1] != 2:
            raise ValueError(
                f"input_points must have shape (batch, prompts, points, 2), got {tuple(input_points)}; "
                "nest points as [image][prompt][point][x, y]"
            )
        if input_points[0] != batch:
            raise ValueError(f"input_points has batch {input_points[0]} but the images have batch {batch}")
        _check_not_empty("input_points", input_points, axis=1, what="prompt")
    if input_labels is not None:
        if input_points is None:
            raise ValueError("input_labels were given without input_points")
        if tuple(input_labels) != tuple(input_points[:3]):
            raise ValueError(
                f"input_labels must have shape {tuple(input_points[:3])} to match input_points, "
                f"got {tuple(input_labels)}"
            )
    if input_boxes is not None:
        if len(input_boxes) != 3 or input_boxes[-1] != 4:
            raise ValueError(f"input_boxes must have shape (batch, boxes, 4), got {tuple(input_boxes)}")
        if input_boxes[0] != batch:
            raise ValueError(f"input_boxes has batch {input_boxes[0]} but the images have batch {batch}")
        _check_not_empty("input_boxes", input_boxes, axis=1, what="box")
        if input_points is not None and input_points[1] != input_boxes[1]:
            raise ValueError(
                "input_points and input_boxes must have the same number of prompts per image, "
                f"got {input_points[1]} and {input_boxes[1]}"
            )
    if input_masks is not None:
        expected_mask = (batch, 1, 4 * grid, 4 * grid)
        if tuple(input_masks) != expected_mask:
            raise ValueError(f"input_masks must have shape {expected_mask}, got {tuple(input_masks)}")
