"""Runs transformers 4.x TFSamModel (Keras 2, tf-keras) as a reference, in its own process.

Usage: ``TF_USE_LEGACY_KERAS=1 python tests/oracles/hf_tf_oracle.py spec.json``. The spec lists jobs; each loads
a directory with ``TFSamModel.from_pretrained`` (``from_pt`` for a torch-format model.safetensors), optionally saves
it with ``save_pretrained`` (transformers' own tf_model.h5), and runs the model on named arrays from an .npz:

    {"inputs": "in.npz", "out": "out.npz",
     "jobs": [{"name": ..., "model_dir": ..., "from_pt": bool, "save_dir"?: ...,
               "runs": [{"name": ..., "args": {"pixel_values": "<array name>", ...}, "multimask_output": bool}]}]}

Results go to ``out`` as "<job>/<run>/pred_masks", "<job>/<run>/iou_scores" and "<job>/embeddings" (when the job
has a run with pixel_values). This file imports nothing from dualsam, and must not share a process with Keras 3.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import transformers  # noqa: E402


def run_job(job: dict, arrays: dict[str, np.ndarray], results: dict[str, np.ndarray]) -> None:
    model = transformers.TFSamModel.from_pretrained(job["model_dir"], from_pt=bool(job.get("from_pt")))
    if job.get("save_dir"):
        model.save_pretrained(job["save_dir"])
    for run in job["runs"]:
        kwargs = {key: arrays[name] for key, name in run["args"].items()}
        output = model(**kwargs, multimask_output=run.get("multimask_output", True))
        results[f"{job['name']}/{run['name']}/pred_masks"] = output.pred_masks.numpy()
        results[f"{job['name']}/{run['name']}/iou_scores"] = output.iou_scores.numpy()
        if "pixel_values" in kwargs and f"{job['name']}/embeddings" not in results:
            results[f"{job['name']}/embeddings"] = model.get_image_embeddings(kwargs["pixel_values"]).numpy()


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    arrays = dict(np.load(spec["inputs"]))
    results: dict[str, np.ndarray] = {}
    for job in spec["jobs"]:
        run_job(job, arrays, results)
    np.savez(spec["out"], **results)


if __name__ == "__main__":
    main(sys.argv[1])
