"""Writes the single-framework tests' inputs and references, in the full environment (both frameworks).

A tiny SAM with informative random weights in every source layout (Meta .pth, single safetensors, a .bin directory,
a sharded directory, a tf_model.h5 directory), a test image, and each backend's reference outputs on it: the
verify probe of the model, and what ``dualsam segment`` and ``dualsam generate`` return. The single-framework
environment then converts, loads and runs with no access to the other framework, and compares with these.

For the ONNX-only and LiteRT-only environments (``make test-onnx-only``, ``make test-tflite-only``): the tiny model
exported by ``dualsam export`` into ``onnx_export/`` and ``tflite_export/``, two images in ``dataset/``, and the
source model's references (torch for ONNX, Keras for LiteRT): SamPredictor's outputs (``reference_onnx.npz``,
``reference_tflite.npz``), the mask generator's records (``reference_onnx_generate.json``,
``reference_tflite_generate.json``) and a dataset run (``reference_dataset/``, ``reference_dataset_tf/``).

Usage: ``python -m tests.single_framework.make_fixtures OUT_DIR``.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image

from dualsam import generate_masks, load_model, segment_image
from dualsam.cli import main as dualsam_main
from dualsam.export import export_model
from sam_core import weights
from sam_core.atomic import write_json
from sam_core.predictor import SamPredictor
from tests.helpers.convert_fixtures import tiny_state, write_meta_pth
from tests.helpers.images import synthetic_image
from weights_convert import ConvertOptions, convert
from weights_convert.verify import run_probe

#: The prompts and generator options the tests use (image pixels of a 45 x 67 image).
POINTS, LABELS, BOX = [[20.0, 25.0], [50.0, 10.0]], [1, 0], [5.0, 8.0, 40.0, 40.0]
AMG = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)
#: SamPredictor's prompts on the scene for the runtime-only environments (image pixels), each with multimask output.
PREDICTOR_PROMPTS = {
    "point": {"point_coords": [[20.0, 25.0]], "point_labels": [1]},
    "points_box": {"point_coords": POINTS, "point_labels": LABELS, "box": BOX},
    "box": {"box": [30.0, 5.0, 60.0, 30.0]},
}  # fmt: skip
#: The runtime-only environments' generator options: a denser grid and looser NMS keep more of the random model's masks.
AMG_ONNX = dict(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=0.9)
#: The runtime-only environments' exports and the framework each is exported from.
FORMATS = {"onnx": "torch", "tflite": "tf"}
#: The dataset run's one point, inside both images of ``dataset/``.
DATASET_POINT = [15.0, 12.0]


def write_sources(root: str) -> dict[str, str]:
    """The tiny checkpoint in every layout; returns layout -> path."""
    config, state = tiny_state(seed=21)
    found = {"meta_pth": write_meta_pth(os.path.join(root, "sam_tiny.pth"), state)}
    found["single_safetensors"] = os.path.join(root, "weights.safetensors")
    weights.write_safetensors(state, found["single_safetensors"])
    found["bin_dir"] = os.path.join(root, "bin_dir")
    config.save_pretrained(found["bin_dir"])
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    torch.save(tensors, os.path.join(found["bin_dir"], weights.TORCH_BIN_NAME))
    found["sharded_dir"] = os.path.join(root, "sharded_dir")
    config.save_pretrained(found["sharded_dir"])
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for shard, shard_keys in shards.items():
        weights.write_safetensors({k: state[k] for k in shard_keys}, os.path.join(found["sharded_dir"], shard))
    index = {"metadata": {}, "weight_map": {k: s for s, ks in shards.items() for k in ks}}
    write_json(os.path.join(found["sharded_dir"], weights.SAFETENSORS_INDEX_NAME), index)
    found["tf_h5_dir"] = os.path.join(root, "tf_h5_dir")
    convert(found["bin_dir"], found["tf_h5_dir"], ConvertOptions(to="tf", progress=False, force=True))  # rerun: replace
    found["config"] = config.save_pretrained(os.path.join(root, "config"))
    return found


def references(root: str, sources: dict[str, str], image: np.ndarray) -> None:
    """Per backend: the probe outputs, the segment masks and scores, and the generated records."""
    for backend in ("torch", "tf"):
        loaded = load_model(sources["bin_dir"], backend)
        probe = run_probe(loaded.model, loaded.model.config)
        result = segment_image(SamPredictor(loaded.model), image, points=POINTS, labels=LABELS, box=BOX)
        records = generate_masks(loaded.model, image, progress=False, **AMG)
        np.savez(os.path.join(root, f"reference_{backend}.npz"), **probe, segment_masks=result.masks,
                 segment_scores=result.scores)  # fmt: skip
        write_json(os.path.join(root, f"reference_{backend}_generate.json"), records)


def runtime_fixtures(root: str, sources: dict[str, str], image: np.ndarray, format: str) -> dict[str, str]:
    """The ``format`` ("onnx" or "tflite") export of the tiny model into ``FORMAT_export/`` and its source model's
    references (torch for ONNX, Keras for LiteRT) for the runtime-only environment: SamPredictor's outputs
    (``reference_FORMAT.npz``), the mask generator's records (``reference_FORMAT_generate.json``) and a dataset run
    (``reference_dataset/`` from torch, ``reference_dataset_tf/`` from Keras)."""
    framework = FORMATS[format]
    export_model(sources["bin_dir"], os.path.join(root, f"{format}_export"), format=format)
    predictor = SamPredictor(load_model(sources["bin_dir"], framework).model)
    predictor.set_image(image)
    arrays = {}
    for name, prompt in PREDICTOR_PROMPTS.items():
        prompt = {key: np.asarray(value) for key, value in prompt.items()}
        masks, scores, low_res = predictor.predict(**prompt, multimask_output=True)
        arrays.update({f"{name}_masks": masks, f"{name}_scores": scores, f"{name}_low_res": low_res})
    np.savez(os.path.join(root, f"reference_{format}.npz"), **arrays)
    records = generate_masks(predictor.backend, image, progress=False, **AMG_ONNX)
    write_json(os.path.join(root, f"reference_{format}_generate.json"), records)
    dataset = os.path.join(root, "dataset")
    os.makedirs(dataset, exist_ok=True)
    Image.fromarray(image).save(os.path.join(dataset, "a.png"))
    Image.fromarray(synthetic_image(38, 52, seed=8)).save(os.path.join(dataset, "b.png"))
    reference = os.path.join(root, "reference_dataset" + ("" if framework == "torch" else f"_{framework}"))
    shutil.rmtree(reference, ignore_errors=True)  # a fresh run, not a resumed one
    code = dualsam_main(["segment", dataset, "--point", ",".join(f"{v:g}" for v in DATASET_POINT), "--multimask",
                         "--model", sources["bin_dir"], "--backend", framework, "--no-progress",
                         "--out", reference])  # fmt: skip
    if code != 0:
        raise RuntimeError(f"the reference dataset run exited {code}")
    return {f"{format}_export": os.path.join(root, f"{format}_export"), "dataset": dataset}


def main(root: str) -> None:
    os.makedirs(root, exist_ok=True)
    sources = write_sources(root)
    image = synthetic_image(45, 67, seed=3)
    Image.fromarray(image).save(os.path.join(root, "scene.png"))
    references(root, sources, image)
    runtimes = {}
    for format in FORMATS:
        runtimes.update(runtime_fixtures(root, sources, image, format))
    write_json(os.path.join(root, "sources.json"), {**sources, **runtimes, "points": POINTS, "labels": LABELS,
                                                     "box": BOX, "amg": AMG, "predictor_prompts": PREDICTOR_PROMPTS,
                                                     "amg_onnx": AMG_ONNX, "dataset_point": DATASET_POINT})  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
