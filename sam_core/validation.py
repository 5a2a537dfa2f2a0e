"""Bad-input checks shared by the processors and both model backends, so every entry point raises the same errors.

Every error is a ValueError (wrong value, shape or nesting) or a TypeError (wrong kind of object) whose message
names the argument and says what was expected.

Shape legend: B images, P prompts per image, N points per prompt, nb boxes per image.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .tensors import array_kind, to_numpy

POINT_LABELS = (1, 0, -1, -10)
"""Allowed point labels: 1 foreground, 0 background, -1 not-a-point, -10 padding."""

_POINTS_NESTING = "[image][prompt][point][x, y] (or [image][point][x, y] for one prompt per image)"


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or array_kind(value) != "np"


def to_nested_lists(value: Any, *, name: str) -> Any:
    """Turns arrays / tensors (at any level of a nested list) into nested Python lists of numbers.

    Raises:
        TypeError: naming ``name`` when a leaf is not a number.
    """
    if _is_array(value):
        return to_numpy(value).tolist()
    if isinstance(value, (list, tuple)):
        return [to_nested_lists(item, name=name) for item in value]
    if isinstance(value, numbers.Real):
        return value.item() if isinstance(value, np.generic) else value
    raise TypeError(f"{name} must hold numbers in nested lists or arrays, found {type(value).__name__}: {value!r}")


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list):
        depth += 1
        if not value:
            break
        value = value[0]
    return depth


def _is_number_list(value: Any, length: int) -> bool:
    return isinstance(value, list) and len(value) == length and all(isinstance(v, numbers.Real) for v in value)


def check_finite(array: np.ndarray, *, name: str) -> None:
    """Raises ValueError naming ``name`` when a float array holds NaN or infinity."""
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def check_batch_size(name: str, count: int, num_images: int) -> None:
    """Raises ValueError when a per-image argument does not have one entry per image."""
    if count != num_images:
        raise ValueError(f"{name} has entries for {count} image(s) but {num_images} image(s) were given")


def validate_points(
    input_points: Any, *, num_images: int | None = None
) -> tuple[list[list[np.ndarray]], bool]:
    """Checks user points and splits them per image and per prompt.

    Args:
        input_points: nested [image][prompt][point][x, y], or [image][point][x, y] meaning one prompt per image;
            lists, numpy arrays or tensors, (B, P, N, 2) or (B, N, 2). N may differ between prompts.
        num_images: when given, the number of images the points must match.

    Returns:
        (points, implicit_prompt): ``points[b][p]`` is an (N_bp, 2) float64 array; ``implicit_prompt`` is True
        for the three-level form.

    Raises:
        ValueError: wrong nesting, a point that is not two numbers, NaN/inf, an empty image or prompt, a batch
            mismatch, or images with different numbers of prompts.
        TypeError: a coordinate that is not a number.
    """
    data = to_nested_lists(input_points, name="input_points")
    depth = _depth(data)
    if depth not in (3, 4):
        raise ValueError(f"input_points must be nested {_POINTS_NESTING}; got {depth} level(s) of nesting")
    implicit = depth == 3
    if implicit:
        data = [[image] if isinstance(image, list) else image for image in data]
    points: list[list[np.ndarray]] = []
    for i, image in enumerate(data):
        if not isinstance(image, list) or not image:
            raise ValueError(f"input_points[{i}] must be a non-empty list of prompts, nested {_POINTS_NESTING}")
        prompts = []
        for j, prompt in enumerate(image):
            where = f"input_points[{i}]" if implicit else f"input_points[{i}][{j}]"
            if not isinstance(prompt, list) or not prompt:
                raise ValueError(f"{where} must be a non-empty list of [x, y] points, nested {_POINTS_NESTING}")
            for k, point in enumerate(prompt):
                if not _is_number_list(point, 2):
                    raise ValueError(f"{where}[{k}] must be a point [x, y] of 2 numbers, got {point!r}")
            array = np.asarray(prompt, dtype=np.float64)
            check_finite(array, name=where)
            prompts.append(array)
        points.append(prompts)
    if num_images is not None:
        check_batch_size("input_points", len(points), num_images)
    prompt_counts = [len(prompts) for prompts in points]
    if len(set(prompt_counts)) > 1:
        raise ValueError(f"input_points must have the same number of prompts for every image, got {prompt_counts}")
    return points, implicit


def validate_labels(
    input_labels: Any, points: list[list[np.ndarray]], *, implicit_prompt: bool
) -> list[list[np.ndarray]]:
    """Checks labels against already validated points.

    Args:
        input_labels: nested [image][prompt][point] (or [image][point] when the points used the three-level form).
        points: the output of ``validate_points``.
        implicit_prompt: the flag returned by ``validate_points``.

    Returns:
        ``labels[b][p]``: an (N_bp,) int64 array.

    Raises:
        ValueError: wrong nesting, a count that differs from the points, or a label outside POINT_LABELS.
    """
    data = to_nested_lists(input_labels, name="input_labels")
    nesting = "[image][point]" if implicit_prompt else "[image][prompt][point]"
    depth = _depth(data)
    # With [image][point][x, y] points, labels may be [image][point] or spell out the single prompt level.
    if depth != 3 and not (implicit_prompt and depth == 2):
        raise ValueError(f"input_labels must be nested {nesting} to match input_points, got {data!r}")
    if depth == 2:
        data = [[image] for image in data]
    if len(data) != len(points):
        raise ValueError(f"input_labels has {len(data)} image(s) but input_points has {len(points)}")
    labels: list[list[np.ndarray]] = []
    for i, (image_labels, image_points) in enumerate(zip(data, points)):
        if not isinstance(image_labels, list) or len(image_labels) != len(image_points):
            raise ValueError(
                f"input_labels[{i}] must hold one label list per prompt ({len(image_points)}), got {image_labels!r}"
            )
        per_prompt = []
        for j, (prompt_labels, prompt_points) in enumerate(zip(image_labels, image_points)):
            where = f"input_labels[{i}]" if implicit_prompt else f"input_labels[{i}][{j}]"
            if not isinstance(prompt_labels, list) or len(prompt_labels) != len(prompt_points):
                count = len(prompt_labels) if isinstance(prompt_labels, list) else prompt_labels
                raise ValueError(
                    f"{where} must have one label per point: {len(prompt_points)} point(s), got {count!r} label(s)"
                )
            for label in prompt_labels:
                if not isinstance(label, numbers.Real) or label not in POINT_LABELS:
                    raise ValueError(f"{where} holds {label!r}; point labels must be one of {POINT_LABELS}")
            per_prompt.append(np.asarray(prompt_labels, dtype=np.int64))
        labels.append(per_prompt)
    return labels


def validate_boxes(input_boxes: Any, *, num_images: int | None = None) -> list[np.ndarray]:
    """Checks user boxes.

    Args:
        input_boxes: nested [image][box][x1, y1, x2, y2]; lists, (B, nb, 4) arrays or tensors.
        num_images: when given, the number of images the boxes must match.

    Returns:
        One (nb, 4) float64 array per image (values rounded to float32 first, as transformers does).

    Raises:
        ValueError: wrong nesting, a box that is not 4 numbers, x2 < x1 or y2 < y1, NaN/inf, a batch mismatch,
            or images with different numbers of boxes.
    """
    data = to_nested_lists(input_boxes, name="input_boxes")
    if _depth(data) != 3:
        raise ValueError(f"input_boxes must be nested [image][box][x1, y1, x2, y2], got {data!r}")
    boxes = []
    for i, image in enumerate(data):
        if not isinstance(image, list) or not image:
            raise ValueError(f"input_boxes[{i}] must be a non-empty list of [x1, y1, x2, y2] boxes")
        for j, box in enumerate(image):
            if not _is_number_list(box, 4):
                raise ValueError(f"input_boxes[{i}][{j}] must be 4 numbers [x1, y1, x2, y2], got {box!r}")
        array = np.asarray(image, dtype=np.float32).astype(np.float64)
        check_finite(array, name=f"input_boxes[{i}]")
        _check_box_order(array, name=f"input_boxes[{i}]")
        boxes.append(array)
    if num_images is not None:
        check_batch_size("input_boxes", len(boxes), num_images)
    box_counts = [len(b) for b in boxes]
    if len(set(box_counts)) > 1:
        raise ValueError(f"input_boxes must have the same number of boxes for every image, got {box_counts}")
    return boxes


def _check_box_order(boxes: np.ndarray, *, name: str) -> None:
    bad = (boxes[..., 2] < boxes[..., 0]) | (boxes[..., 3] < boxes[..., 1])
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: box at index {index} is {boxes[index].tolist()}; boxes are [x1, y1, x2, y2] "
            "with x2 >= x1 and y2 >= y1"
        )


def check_prompt_values(*, input_points: Any = None, input_labels: Any = None, input_boxes: Any = None) -> None:
    """Value checks of batched model inputs (numpy, torch or tf), for the model backends.

    Args:
        input_points: (B, P, N, 2) coordinates; must be finite.
        input_labels: (B, P, N) labels; must be in POINT_LABELS.
        input_boxes: (B, nb, 4) boxes; must be finite with x2 >= x1 and y2 >= y1.

    Shapes are checked by ``sam_core.model_inputs``.
    """
    if input_points is not None:
        check_finite(to_numpy(input_points), name="input_points")
    if input_labels is not None:
        labels = to_numpy(input_labels)
        unknown = np.setdiff1d(np.unique(labels), POINT_LABELS)
        if unknown.size:
            raise ValueError(f"input_labels holds {unknown.tolist()}; point labels must be one of {POINT_LABELS}")
    if input_boxes is not None:
        boxes = to_numpy(input_boxes)
        check_finite(boxes, name="input_boxes")
        if boxes.ndim == 0 or boxes.shape[-1] != 4:
            raise ValueError(f"input_boxes must end in 4 coordinates [x1, y1, x2, y2], got shape {boxes.shape}")
        _check_box_order(boxes, name="input_boxes")


def check_image_object(image: Any, *, name: str = "images") -> None:
    """Raises TypeError naming ``name`` unless ``image`` is a PIL image, a numpy array or a torch/tf tensor."""
    import PIL.Image

    if isinstance(image, PIL.Image.Image) or _is_array(image):
        return
    raise TypeError(
        f"{name} must be a PIL.Image.Image, a numpy array or a torch/tf tensor, got {type(image).__name__}"
    )


def image_layout(shape: tuple[int, ...], *, name: str = "images") -> str:
    """Infers where the channels of an image array are, and checks its size.

    Channels first wins when both ends could be channels (as in transformers): (1 or 3, H, W) is CHW, then
    (H, W, 1 or 3) is HWC, then 4 channels (RGBA) last, then first.

    Args:
        shape: the array's shape: (H, W), (H, W, C) or (C, H, W).
        name: the argument named in errors, e.g. "images[1]".

    Returns:
        "hw", "hwc" or "chw".

    Raises:
        ValueError: wrong number of dimensions, a channel count other than 1, 3 or 4, or an empty image.
    """
    if len(shape) == 2:
        layout = "hw"
    elif len(shape) == 3:
        if shape[0] in (1, 3):
            layout = "chw"
        elif shape[-1] in (1, 3, 4):
            layout = "hwc"
        elif shape[0] == 4:
            layout = "chw"
        else:
            raise ValueError(
                f"{name} must have 1, 3 or 4 channels (gray, RGB or RGBA), channels first or last; "
                f"got shape {tuple(shape)}"
            )
    else:
        raise ValueError(f"{name} must be a 2-D (H, W) or 3-D (H, W, C) / (C, H, W) array, got shape {tuple(shape)}")
    height, width = (shape[1], shape[2]) if layout == "chw" else (shape[0], shape[1])
    if height <= 0 or width <= 0:
        raise ValueError(f"{name} is empty: height and width must be > 0, got shape {tuple(shape)}")
    return layout


def check_image_dtype(array: np.ndarray, *, name: str = "images") -> None:
    """Raises TypeError unless the array holds numbers or booleans, and ValueError for NaN/inf pixels."""
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    check_finite(array, name=name)
