"""A dataset run's results on disk: shards written as images complete, and the merge into one COCO file.

Layout of ``--out DIR``:
- ``run.json``: the run's settings (mode, model, options); a resumed run must match them.
- ``shards/*.jsonl``: one JSON result per line (an image's annotations, or its error); each shard is written to a
  temporary file and renamed into place, so a killed process leaves whole shards only, and loses at most the images
  in flight.
- ``annotations.json`` (COCO: images, annotations with RLE segmentation, bbox, area, predicted_iou, stability_score
  where the generator gives one, category_id) and ``errors.jsonl``, both written atomically by :func:`merge`, ordered
  by image path, with ids that do not depend on the order in which images completed.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from typing import Any

from sam_core.atomic import atomic_path, write_json

from .tasks import ImageTask, InputError

SHARD_DIR = "shards"
RUN_FILE = "run.json"
ANNOTATIONS_FILE = "annotations.json"
ERRORS_FILE = "errors.jsonl"
#: The category of masks whose prompt carried none.
DEFAULT_CATEGORY = {"id": 1, "name": "object"}


def prepare_output(out: str, settings: dict[str, Any]) -> None:
    """Creates ``out`` (and its shard directory) for a run, or checks that an earlier run there had the same settings.

    Raises:
        InputError: ``out`` is a file, or holds a run with other settings.
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError(f"--out {out} exists and is not a directory")
    os.makedirs(os.path.join(out, SHARD_DIR), exist_ok=True)
    path = os.path.join(out, RUN_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            earlier = json.load(handle)
        if earlier != settings:
            changed = sorted(k for k in set(earlier) | set(settings) if earlier.get(k) != settings.get(k))
            raise InputError(f"--out {out} holds a run with other settings ({', '.join(changed)}): resume it with the "
                             "same command, or choose another --out")  # fmt: skip
        return
    write_json(path, settings, sort_keys=True)


class ShardWriter:
    """Writes batches of results as new shards of ``out``; each shard file appears whole or not at all."""

    def __init__(self, out: str) -> None:
        self.directory = os.path.join(out, SHARD_DIR)
        self.prefix = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.count = 0

    def write(self, results: list[dict[str, Any]]) -> str | None:
        """Writes ``results`` as one shard; returns its path (None for no results)."""
        if not results:
            return None
        self.count += 1
        path = os.path.join(self.directory, f"{self.prefix}-{self.count:06d}.jsonl")
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            for result in results:
                handle.write(json.dumps(result, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return path


def read_results(out: str) -> dict[str, dict[str, Any]]:
    """Every result in ``out``'s shards, by image key (temporary files of a killed writer are ignored)."""
    directory = os.path.join(out, SHARD_DIR)
    found: dict[str, dict[str, Any]] = {}
    if not os.path.isdir(directory):
        return found
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or not name.endswith(".jsonl"):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            for line in handle:
                result = json.loads(line)
                found[result["key"]] = result
    return found


def merge(out: str, tasks: Iterable[ImageTask], categories: list[dict[str, Any]] | None = None,
          description: str = "dualsam") -> tuple[int, int]:  # fmt: skip
    """Writes ``annotations.json`` and ``errors.jsonl`` from the shards, for ``tasks`` in path order.

    Image ids are the ``--boxes-from`` file's ids when there is one, else each image's 1-based position among all
    tasks (sorted by key); annotation ids count up in that order. The files depend only on the results.

    Returns:
        (images that succeeded, images that failed).

    Raises:
        InputError: a task has no result (the run did not finish).
    """
    results = read_results(out)
    images, annotations, errors = [], [], []
    ordered = sorted(tasks, key=lambda task: task.key)
    for position, task in enumerate(ordered, 1):
        result = results.get(task.key)
        if result is None:
            raise InputError(f"no result for {task.key} in {out}/{SHARD_DIR}: the run has not finished")
        if result["error"] is not None:
            errors.append({"image": task.key, "path": task.path, "error": result["error"]})
            continue
        image_id = task.coco_image_id if task.coco_image_id is not None else position
        images.append({"id": image_id, "file_name": task.key, "width": result["width"], "height": result["height"]})
        for annotation in result["annotations"]:
            entry = {"id": len(annotations) + 1, "image_id": image_id, "category_id": DEFAULT_CATEGORY["id"],
                     "iscrowd": 0, **{k: v for k, v in annotation.items() if k != "prompt"}}  # fmt: skip
            annotations.append(entry)
    coco = {
        "info": {"description": description},
        "images": images,
        "annotations": annotations,
        "categories": categories or [DEFAULT_CATEGORY],
    }
    write_json(os.path.join(out, ANNOTATIONS_FILE), coco)
    with atomic_path(os.path.join(out, ERRORS_FILE)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for error in errors:
            handle.write(json.dumps(error) + "\n")
    return len(images), len(errors)
