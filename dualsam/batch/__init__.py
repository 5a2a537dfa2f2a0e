"""Whole datasets: segment or generate over folders, globs, prompt files and COCO detections, crash-safe and
resumable, locally or on a Ray cluster (``dualsam[ray]``). See ``run.py``."""

from .run import DatasetSummary, EngineOptions, generate_dataset, segment_dataset
from .tasks import ImageTask, InputError, Prompt

__all__ = [
    "DatasetSummary", "EngineOptions", "ImageTask", "InputError", "Prompt", "generate_dataset", "segment_dataset",
]  # fmt: skip
