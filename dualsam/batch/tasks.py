"""What a dataset run works on: one task per image, with the prompts of that image (in the original image's pixels).

Inputs are IMAGE arguments (files, directories searched recursively by image extension, glob patterns), a prompts
file (``--prompts FILE.jsonl``: one JSON object per line, ``{"image": path, "points": [[x, y], ...], "labels": [...],
"boxes": [[x1, y1, x2, y2], ...]}``) or a COCO file's boxes (``--boxes-from COCO.json``: every annotation's ``bbox`` is
a box prompt and its ``category_id`` is carried to the output). Relative image paths in a prompts or COCO file are
resolved against ``images_root`` (default: the file's directory).

Prompts of one image: every box is one prompt (one mask each); the points form one prompt, joined with the box when
there is exactly one box; points beside several boxes are refused (ambiguous).
"""

from __future__ import annotations

import glob
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..images import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Prompt:
    """One prompt: points with labels and/or a box, in image pixels; ``category_id`` is carried to the output."""

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    category_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.points:
            out["points"], out["labels"] = [list(p) for p in self.points], list(self.labels)
        if self.box is not None:
            out["box"] = list(self.box)
        if self.category_id is not None:
            out["category_id"] = self.category_id
        return out


@dataclass(frozen=True)
class ImageTask:
    """One image of a dataset run.

    Attributes:
        path: the absolute path read.
        key: the stable name of the image in the outputs (``file_name``): the path relative to the common root of the
            inputs; the outputs are ordered by it.
        prompts: the image's prompts (empty for ``generate``).
        coco_image_id: the image's id in a ``--boxes-from`` file, or None.
    """

    path: str
    key: str
    prompts: tuple[Prompt, ...] = field(default_factory=tuple)
    coco_image_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key, "prompts": [p.to_json() for p in self.prompts],
                "coco_image_id": self.coco_image_id}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageTask:
        prompts = tuple(
            Prompt(tuple(tuple(p) for p in d.get("points", [])), tuple(d.get("labels", [])),
                   tuple(d["box"]) if "box" in d else None, d.get("category_id"))  # fmt: skip
            for d in data["prompts"]
        )
        return cls(data["path"], data["key"], prompts, data.get("coco_image_id"))


class InputError(ValueError):
    """Bad dataset input (a pattern matching nothing, a malformed prompts line): one line, the CLI exits 2."""


def expand_images(patterns: list[str]) -> list[str]:
    """Absolute image paths of IMAGE arguments, sorted and without duplicates.

    Args:
        patterns: files, directories (searched recursively for IMAGE_EXTENSIONS) and glob patterns (``**`` too).

    Raises:
        InputError: a pattern that matches nothing, or a directory holding no image.
    """
    found: list[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            hits = [os.path.join(root, name) for root, _, names in os.walk(pattern) for name in names
                    if name.lower().endswith(IMAGE_EXTENSIONS)]  # fmt: skip
            if not hits:
                raise InputError(f"directory {pattern} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        elif os.path.exists(pattern):
            hits = [pattern]
        elif glob.has_magic(pattern):
            hits = [hit for hit in glob.glob(pattern, recursive=True) if os.path.isfile(hit)]
            if not hits:
                raise InputError(f"pattern {pattern!r} matches no file")
        else:
            raise InputError(f"image {pattern} does not exist")
        found.extend(os.path.abspath(hit) for hit in hits)
    return sorted(set(found))


def image_keys(paths: list[str]) -> dict[str, str]:
    """path -> its name relative to the inputs' common directory (POSIX separators)."""
    if not paths:
        return {}
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    return {p: os.path.relpath(p, root).replace(os.sep, "/") for p in paths}


def _number_list(value: Any, width: int, what: str, where: str) -> list[tuple[float, ...]]:
    if not isinstance(value, list) or not all(isinstance(v, list) and len(v) == width for v in value):
        raise InputError(f"{where}: {what} must be a list of {width}-number lists")
    rows = []
    for row in value:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in row):
            raise InputError(f"{where}: {what} must hold finite numbers, got {row}")
        rows.append(tuple(float(v) for v in row))
    return rows


def prompts_of(points: Any, labels: Any, boxes: Any, where: str, category_ids: list[int | None] | None = None
               ) -> tuple[Prompt, ...]:  # fmt: skip
    """The prompts of one image from JSON-like points, labels and boxes (see the module docstring).

    Raises:
        InputError: naming ``where`` (e.g. "prompts.jsonl line 3") and the field.
    """
    point_rows = _number_list(points or [], 2, "points", where)
    label_list = labels if labels is not None else [1] * len(point_rows)
    valid = isinstance(label_list, list) and len(label_list) == len(point_rows)
    if not valid or any(v not in (0, 1) for v in label_list):
        raise InputError(f"{where}: labels must hold one 1 (foreground) or 0 (background) per point")
    box_rows = _number_list(boxes or [], 4, "boxes", where)
    for box in box_rows:
        if not (box[0] < box[2] and box[1] < box[3]):
            raise InputError(f"{where}: boxes must be [x1, y1, x2, y2] with x1 < x2 and y1 < y2, got {list(box)}")
    categories = category_ids or [None] * len(box_rows)
    if point_rows and len(box_rows) > 1:
        raise InputError(f"{where}: points beside several boxes are ambiguous: give one box, or split the line")
    pts, lbls = tuple((x, y) for x, y in point_rows), tuple(int(v) for v in label_list)
    if not box_rows:
        if not point_rows:
            raise InputError(f"{where}: give points and/or boxes")
        return (Prompt(pts, lbls),)
    return tuple(Prompt(pts, lbls, box, category) for box, category in zip(box_rows, categories))


def _resolve(path: str, root: str) -> str:
    return os.path.abspath(path if os.path.isabs(path) else os.path.join(root, path))


def read_prompts_file(path: str, images_root: str | None = None) -> dict[str, tuple[Prompt, ...]]:
    """``--prompts FILE.jsonl`` -> absolute image path -> prompts (lines of one image add up).

    Raises:
        InputError: an unreadable file or a malformed line (with its number).
    """
    root = images_root or os.path.dirname(os.path.abspath(path))
    found: dict[str, tuple[Prompt, ...]] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except OSError as error:
        raise InputError(f"cannot read --prompts {path}: {error.strerror or error}") from error
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{os.path.basename(path)} line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: not JSON ({error.msg})") from error
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise InputError(f"{where}: expected an object with an \"image\" path")
        image = _resolve(entry["image"], root)
        found[image] = found.get(image, ()) + prompts_of(entry.get("points"), entry.get("labels"), entry.get("boxes"),
                                                         where)  # fmt: skip
    if not found:
        raise InputError(f"--prompts {path} holds no prompt")
    return found


def read_coco_boxes(path: str, images_root: str | None = None) -> dict[str, tuple[tuple[Prompt, ...], int]]:
    """``--boxes-from COCO.json`` -> absolute image path -> (one box prompt per annotation, the COCO image id).

    COCO boxes are [x, y, width, height]; annotations with ``iscrowd`` are kept (a box is a box). Images without an
    annotation are left out.

    Raises:
        InputError: an unreadable file or a malformed structure.
    """
    root = images_root or os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8") as handle:
            coco = json.load(handle)
        images = {int(image["id"]): image["file_name"] for image in coco["images"]}
        boxes: dict[int, list[tuple[list[float], int | None]]] = {}
        for annotation in coco["annotations"]:
            x, y, w, h = (float(v) for v in annotation["bbox"])
            category = annotation.get("category_id")
            boxes.setdefault(int(annotation["image_id"]), []).append(([x, y, x + w, y + h], category))
    except OSError as error:
        raise InputError(f"cannot read --boxes-from {path}: {error.strerror or error}") from error
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise InputError(f"--boxes-from {path} is not a COCO detection file ({reason})") from error
    found = {}
    for image_id, entries in sorted(boxes.items()):
        if image_id not in images:
            raise InputError(f"--boxes-from {path}: annotations name image_id {image_id}, which is not in images")
        where = f"{os.path.basename(path)} image {image_id}"
        prompts = prompts_of(None, None, [b for b, _ in entries], where, [c for _, c in entries])
        found[_resolve(images[image_id], root)] = (prompts, image_id)
    return found
