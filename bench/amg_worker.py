"""Runs one automatic-mask-generation contender of bench/amg.py in a process of its own, so that its peak resident
memory (VmHWM, bench/machine.peak_rss_kib) is its own.

    python bench/amg_worker.py SPEC.json

The spec names the contender ("ours-torch", "ours-keras" or "transformers"), a save_pretrained model directory, an
(H, W, 3) uint8 image (.npy), the generator's keyword arguments (Meta's names) and the thread count. One JSON line
goes to stdout: seconds of the generate call (image encoding included, as in Meta's generate), the number of masks,
the peak RSS and the RSS before the call (model loaded), in MB. Meta's generator runs through
tests/oracles/meta_oracle.py instead (its own environment). Under bench/amg.py --before REV the sam_* packages on
PYTHONPATH are an older revision's.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import peak_rss_kib  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _rss_mb() -> float:
    return peak_rss_kib() / 1024


def ours(contender: str, spec: dict):
    """A generate(image) callable of our SamAutomaticMaskGenerator on the torch or the Keras model."""
    from sam_core.mask_generator import SamAutomaticMaskGenerator

    if contender == "ours-torch":
        import torch

        from sam_torch import SamModel

        torch.set_num_threads(spec["threads"])
        model = SamModel.from_pretrained(spec["model_dir"])
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(spec["threads"])
        from sam_tf import TFSamModel

        model = TFSamModel.from_pretrained(spec["model_dir"])
    generator = SamAutomaticMaskGenerator(model, **spec["kwargs"], progress=False)
    return generator.generate


def transformers_pipeline(spec: dict):
    """A generate(image) callable of transformers' mask-generation pipeline with the same weights and thresholds
    (its crops_nms_thresh is the box NMS threshold when there is one crop)."""
    import torch
    import transformers
    from PIL import Image

    torch.set_num_threads(spec["threads"])
    _provide_batched_nms()
    model = transformers.SamModel.from_pretrained(spec["model_dir"]).eval()
    pipe = transformers.pipeline(
        "mask-generation", model=model, image_processor=transformers.SamImageProcessor(), framework="pt", device="cpu"
    )
    kwargs = spec["kwargs"]
    options = dict(
        points_per_batch=kwargs.get("points_per_batch", 64),
        points_per_crop=kwargs.get("points_per_side", 32),
        pred_iou_thresh=kwargs.get("pred_iou_thresh", 0.88),
        stability_score_thresh=kwargs.get("stability_score_thresh", 0.95),
        crops_nms_thresh=kwargs.get("box_nms_thresh", 0.7),
    )

    def generate(image: np.ndarray) -> list:
        with torch.no_grad():
            return pipe(Image.fromarray(image), **options)["masks"]

    return generate


def _provide_batched_nms() -> None:
    """transformers' SAM post-processing takes batched_nms from torchvision, which this environment lacks (it pins
    the CPU torch that no torchvision build matches): give it sam_core's, which matches torchvision's
    (tests/test_amg_nms.py). Its share of the pipeline's time is small either way."""
    from transformers.models.sam import image_processing_sam

    if hasattr(image_processing_sam, "batched_nms"):
        return
    import torch

    from sam_core.amg.nms import batched_nms

    def torch_batched_nms(boxes, scores, idxs, iou_threshold):
        keep = batched_nms(boxes.numpy(), scores.numpy(), idxs.numpy(), iou_threshold)
        return torch.from_numpy(np.asarray(keep, dtype=np.int64))

    image_processing_sam.batched_nms = torch_batched_nms


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    image = np.load(spec["image"])
    contender = spec["contender"]
    generate = transformers_pipeline(spec) if contender == "transformers" else ours(contender, spec)
    before = _rss_mb()
    start = time.perf_counter()
    masks = generate(image)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "masks": len(masks), "peak_rss_mb": _rss_mb(), "rss_before_mb": before}))


if __name__ == "__main__":
    main(sys.argv[1])
