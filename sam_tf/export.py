"""The SavedModel export of TFSamModel: one ``serve`` endpoint from pixels and point prompts to masks and scores;
``export_savedmodel`` (``dualsam export MODEL --format savedmodel``) writes it with a ``dualsam_export.json``
(``sam_core.export_manifest``'s files and check entries) after loading it back and checking it against the model.

Shape legend: B images, P prompts per image, N points per prompt, K masks, S image size.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from sam_core.atomic import write_json
from sam_core.export_check import probe_cases, raise_on_failure
from sam_core.export_manifest import ExportResult, files_entry, publish
from sam_core.onnx_signature import MANIFEST_NAME, preprocessing
from sam_core.probe import Deviation, deviation, probe_inputs


def serving_signature(config) -> list[tf.TensorSpec]:
    """pixel_values (B, 3, S, S) float32, input_points (B, P, N, 2) float32, input_labels (B, P, N) int32."""
    vision = config.vision_config
    return [
        tf.TensorSpec((None, vision.num_channels, vision.image_size, vision.image_size), tf.float32, "pixel_values"),
        tf.TensorSpec((None, None, None, 2), tf.float32, "input_points"),
        tf.TensorSpec((None, None, None), tf.int32, "input_labels"),
    ]


def export_serving(model: keras.Model, filepath: str | os.PathLike) -> None:
    """Writes ``model`` as a SavedModel with the ``serve`` endpoint (also the default serving signature).

    The endpoint returns {"pred_masks": (B, P, 3, 256, 256), "iou_scores": (B, P, 3)} (multimask output).
    """

    def serve(pixel_values: tf.Tensor, input_points: tf.Tensor, input_labels: tf.Tensor) -> dict[str, tf.Tensor]:
        output = model(pixel_values=pixel_values, input_points=input_points, input_labels=input_labels)
        return {"pred_masks": output.pred_masks, "iou_scores": output.iou_scores}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=serving_signature(model.config))
    archive.write_out(os.fspath(filepath), verbose=False)


#: The SavedModel's endpoint against the Keras model, relative to max(1, max|ref|): the same graph, retraced.
SAVEDMODEL_RTOL = 1e-4
SAVEDMODEL_DIR = "savedmodel"


def check_savedmodel(path: str | os.PathLike, model: keras.Model) -> list[Deviation]:
    """Loads the SavedModel with ``tf.saved_model.load`` and compares its ``serve`` endpoint with ``model`` on the
    probe image and two point prompts (one point; five mixed points), pred_masks and iou_scores each."""
    loaded = tf.saved_model.load(os.fspath(path))
    pixels, _ = probe_inputs(model.config)
    points = np.stack([case["points"] for case in probe_cases(model.config) if case["name"] == "5 points"])[None]
    labels = np.array([[[1, 0, 1, 0, 1]]], np.int32)
    deviations = []
    for name, count in (("1 point", 1), ("5 points", 5)):
        feeds = {"pixel_values": pixels, "input_points": points[:, :, :count], "input_labels": labels[:, :, :count]}
        ours = loaded.serve(**{key: tf.constant(value) for key, value in feeds.items()})
        reference = model(**feeds)
        for output in ("pred_masks", "iou_scores"):
            deviations.append(deviation(f"serve {name}: {output}", np.asarray(ours[output]),
                                        np.asarray(getattr(reference, output)), SAVEDMODEL_RTOL))  # fmt: skip
    return deviations


def export_savedmodel(
    model: keras.Model,
    directory: str | os.PathLike,
    *,
    check: bool = True,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Writes ``savedmodel/`` (:func:`export_serving`) and dualsam_export.json into ``directory``, after loading the
    SavedModel back and comparing it with ``model`` (:func:`check_savedmodel`).

    Raises:
        ExportCheckError: the loaded SavedModel differs from the model above SAVEDMODEL_RTOL; no file is left.
    """
    say = log or (lambda line: None)
    os.makedirs(directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=directory)
    deviations: list[Deviation] = []
    try:
        say(f"writing the SavedModel ({SAVEDMODEL_DIR}/, endpoint serve)")
        export_serving(model, os.path.join(staging, SAVEDMODEL_DIR))
        if check:
            say("checking tf.saved_model.load's endpoint against the Keras model on the probe")
            deviations = check_savedmodel(os.path.join(staging, SAVEDMODEL_DIR), model)
            raise_on_failure(deviations, "the SavedModel differs from the Keras model", say)
        names = publish(staging, directory, set())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    signature = {
        spec.name: [None if d is None else int(d) for d in spec.shape] for spec in serving_signature(model.config)
    }
    worst = max((d.max_abs_diff / d.bound for d in deviations), default=None)
    manifest = {
        "format": "savedmodel",
        "config": model.config.to_dict(),
        "preprocessing": preprocessing(model.config),
        "savedmodel": {
            "directory": SAVEDMODEL_DIR,
            "endpoint": "serve (also the default serving signature)",
            "inputs": signature,
            "input_dtypes": {"pixel_values": "float32", "input_points": "float32", "input_labels": "int32"},
            "outputs": {"pred_masks": ["B", "P", 3, "L", "L"], "iou_scores": ["B", "P", 3]},
            "prompts": "points in the resized S frame; labels 1 foreground, 0 background, -1 not a point, -10 pad",
        },
        "check": {
            "done": bool(check),
            "rtol": SAVEDMODEL_RTOL,
            "outputs": len(deviations),
            "worst_fraction_of_bound": worst,
        },  # fmt: skip
        "files": files_entry(directory, names),
        "tensorflow_version": tf.__version__,
    }
    write_json(os.path.join(directory, MANIFEST_NAME), manifest)
    say(f"wrote {MANIFEST_NAME}")
    return ExportResult(str(directory), manifest, deviations)
