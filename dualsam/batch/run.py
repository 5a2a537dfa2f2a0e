"""Dataset runs: ``segment_dataset`` (prompts per image -> masks) and ``generate_dataset`` (everything in every
image), resumable, on the local engine or on Ray. The CLI's ``dualsam segment`` / ``generate`` with several images
call these; so can a script::

    from dualsam.batch import generate_dataset, segment_dataset
    summary = segment_dataset(out="labels", boxes_from="detections.json", model="sam-vit-base")
    summary = generate_dataset(["photos/"], out="everything", points_per_side=16, engine="ray", workers=4)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from ..cli_common import version
from ..generate import AMG_DEFAULTS
from ..models import ModelError, check_dtype, resolve_backend
from .shards import ANNOTATIONS_FILE, ERRORS_FILE, merge, prepare_output, read_results
from .tasks import (
    ImageTask,
    InputError,
    Prompt,
    expand_images,
    image_keys,
    prompts_of,
    read_coco_boxes,
    read_prompts_file,
)
from .worker import ModelSpec

ENGINES = ("local", "ray")


@dataclass
class DatasetSummary:
    """What a dataset run did.

    Attributes:
        out: the output directory.
        images: images in the dataset.
        skipped: images done by an earlier run (resumed).
        succeeded: images with annotations in annotations.json.
        failed: images listed in errors.jsonl.
        annotations: the annotations.json path.
        errors: the errors.jsonl path.
        seconds: this run's wall time.
    """

    out: str
    images: int
    skipped: int
    succeeded: int
    failed: int
    annotations: str
    errors: str
    seconds: float

    @property
    def images_per_second(self) -> float:
        return (self.images - self.skipped) / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class EngineOptions:
    """Where and how the images run.

    Attributes:
        engine: "local" or "ray".
        batch_size: images per encoder call (and per shard).
        workers: Ray actors (each loads the model once).
        address: a Ray cluster address (None: RAY_ADDRESS, else a local cluster).
        cpus_per_worker, gpus_per_worker: Ray resources per actor.
        threads: image-reading threads of the local engine.
        progress: a progress bar (None: only on a terminal).
    """

    engine: str = "local"
    batch_size: int = 1
    workers: int = 1
    address: str | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    threads: int = 2
    progress: bool | None = None

    def check(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        for name in ("batch_size", "workers", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise InputError("cpus_per_worker must be > 0 and gpus_per_worker >= 0")


def _tasks(paths_prompts: dict[str, tuple[tuple[Prompt, ...], int | None]]) -> list[ImageTask]:
    keys = image_keys(sorted(paths_prompts))
    return [ImageTask(path, keys[path], prompts, coco_id) for path, (prompts, coco_id) in sorted(paths_prompts.items())]


def segment_tasks(images: list[str] = (), *, prompts: str | None = None, boxes_from: str | None = None,
                  points: Any = None, labels: Any = None, box: Any = None, images_root: str | None = None
                  ) -> tuple[list[ImageTask], list[dict[str, Any]] | None]:  # fmt: skip
    """The images and prompts of a segment run, and the categories to write (from ``boxes_from``).

    Exactly one prompt source: ``prompts`` (JSONL), ``boxes_from`` (COCO), or ``points`` / ``box`` applied to every
    image of ``images``.

    Raises:
        InputError: no or several prompt sources, or bad input files.
    """
    sources = [name for name, value in (("prompts", prompts), ("boxes_from", boxes_from)) if value]
    given = points is not None or box is not None
    if len(sources) + given != 1:
        raise InputError("give one prompt source: --prompts FILE.jsonl, --boxes-from COCO.json, or --point/--box "
                         "for every image")  # fmt: skip
    if sources and images:
        raise InputError(f"IMAGE arguments and --{sources[0].replace('_', '-')} exclude each other: the file names "
                         "the images")  # fmt: skip
    if prompts:
        return _tasks({p: (v, None) for p, v in read_prompts_file(prompts, images_root).items()}), None
    if boxes_from:
        categories = _coco_categories(boxes_from)
        return _tasks(read_coco_boxes(boxes_from, images_root)), categories
    shared = prompts_of(points, labels, [box] if box is not None else None, "--point/--box")
    return _tasks({path: (shared, None) for path in expand_images(list(images))}), None


def _coco_categories(path: str) -> list[dict[str, Any]] | None:
    import json

    with open(path, encoding="utf-8") as handle:
        categories = json.load(handle).get("categories")
    return categories or None


def run_dataset(tasks: list[ImageTask], *, out: str, mode: str, options: dict[str, Any], spec: ModelSpec,
                engine: EngineOptions, categories: list[dict[str, Any]] | None = None) -> DatasetSummary:  # fmt: skip
    """Runs the tasks not done yet in ``out``, then merges every result into annotations.json and errors.jsonl."""
    engine.check()
    if not tasks:
        raise InputError("no images to process")
    spec = ModelSpec(spec.model, _backend(spec.backend), spec.config, _dtype(spec.dtype, spec.backend))
    settings = {"mode": mode, "options": options, "model": spec.model, "backend": spec.backend, "config": spec.config}
    if spec.dtype != "fp32":
        settings["dtype"] = spec.dtype  # fp32 runs keep the settings of runs written before --dtype
    prepare_output(out, settings)
    start = time.perf_counter()
    done = read_results(out)
    pending = [task for task in tasks if task.key not in done]
    with _progress(len(tasks), len(tasks) - len(pending), engine.progress) as bar:
        if engine.engine == "local":
            from .local import run_local

            run_local(spec, mode, options, pending, out, batch_size=engine.batch_size, threads=engine.threads,
                      on_done=bar.update)  # fmt: skip
        else:
            from .ray_engine import run_ray

            run_ray(spec, mode, options, pending, out, engine, on_done=bar.update)
    succeeded, failed = merge(out, tasks, categories, description=f"dualsam {mode} {version()}")
    return DatasetSummary(out, len(tasks), len(tasks) - len(pending), succeeded, failed,
                          os.path.join(out, ANNOTATIONS_FILE), os.path.join(out, ERRORS_FILE),
                          time.perf_counter() - start)  # fmt: skip


def _backend(name: str | None) -> str:
    try:
        return resolve_backend(name)
    except ModelError as error:
        raise InputError(str(error)) from error


def _dtype(name: str | None, backend: str) -> str:
    try:
        return check_dtype(name, backend)
    except ModelError as error:
        raise InputError(str(error)) from error


def _progress(total: int, initial: int, enabled: bool | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="image", desc="images", dynamic_ncols=True, smoothing=0.1,
                disable=None if enabled is None else not enabled)  # fmt: skip


def segment_dataset(images: list[str] = (), *, out: str, prompts: str | None = None, boxes_from: str | None = None,
                    points: Any = None, labels: Any = None, box: Any = None, images_root: str | None = None,
                    multimask: bool = False, overlays: bool = False, model: str | None = None,
                    backend: str | None = None, config: str | None = None, engine: EngineOptions | None = None,
                    dtype: str | None = None) -> DatasetSummary:  # fmt: skip
    """Masks for the prompts of every image, as a COCO dataset in ``out`` (see ``segment_tasks`` for the prompts).

    Args:
        overlays: also write ``overlays/<image key>.png`` (masks over the image).
        dtype: "fp32" (None too) or "bf16" (``dualsam.models.load_model``).

    Returns:
        The summary; images that could not be read are in errors.jsonl, the others in annotations.json.
    """
    tasks, categories = segment_tasks(list(images), prompts=prompts, boxes_from=boxes_from, points=points,
                                      labels=labels, box=box, images_root=images_root)  # fmt: skip
    return run_dataset(tasks, out=out, mode="segment", options={"multimask": bool(multimask), "overlays": overlays},
                       spec=ModelSpec(model, backend, config, dtype), engine=engine or EngineOptions(),
                       categories=categories)  # fmt: skip


def generate_dataset(images: list[str], *, out: str, overlays: bool = False, model: str | None = None,
                     backend: str | None = None, config: str | None = None, engine: EngineOptions | None = None,
                     dtype: str | None = None, **amg_options: Any) -> DatasetSummary:  # fmt: skip
    """Every mask of every image (the automatic mask generator), as a COCO dataset in ``out``.

    Args:
        dtype: "fp32" (None too) or "bf16" (``dualsam.models.load_model``).

    Raises:
        TypeError: an unknown mask-generator option.
    """
    unknown = sorted(set(amg_options) - set(AMG_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown mask-generator option(s): {', '.join(unknown)}")
    paths = expand_images(list(images))
    keys = image_keys(paths)
    tasks = [ImageTask(path, keys[path]) for path in paths]
    options = {**AMG_DEFAULTS, **amg_options, "overlays": overlays}
    return run_dataset(tasks, out=out, mode="generate", options=options,
                       spec=ModelSpec(model, backend, config, dtype), engine=engine or EngineOptions())  # fmt: skip
