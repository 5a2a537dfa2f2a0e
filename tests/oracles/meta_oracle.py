"""Runs Meta's segment-anything as a reference, in its own virtual environment (.venv-meta).

Usage: ``.venv-meta/bin/python tests/oracles/meta_oracle.py spec.json``. The spec names a Meta-layout .pth
checkpoint, the architecture (constructor arguments of Meta's modules, so tiny models work), an image (.npy,
(H, W, 3) uint8) and a list of tasks; the results go to ``spec["out"]`` (.npz) plus ``spec["out"] + ".json"``.

Tasks:
  {"kind": "predict", "name": ..., "point_coords"?, "point_labels"?, "box"?, "mask_input_from"?: name of an
   earlier predict task whose best low-res logits are fed back, "multimask_output", "return_logits"}
  {"kind": "predict_torch", "name": ..., "point_coords" (P, N, 2) original pixels, "point_labels" (P, N),
   "boxes"? (P, 4), "multimask_output"}
  {"kind": "amg", "name": ..., "kwargs": {...SamAutomaticMaskGenerator arguments}, "synthetic"?: true}
   (synthetic: the prompt encoder and mask decoder are replaced by synthetic_decoder.py's discs)
  {"kind": "embedding", "name": ...}
  {"kind": "onnx_decoder", "name": ..., "path": ..., "return_single_mask"?: bool}: Meta's own ONNX export of the
      decoder (tests/oracles/meta_onnx_export.py), written to path
  {"kind": "batched_nms", "name": ..., "input": npz with boxes, scores, idxs; "iou_threshold"}: torchvision's
  {"kind": "small_regions", "name": ..., "input": npz with masks (M, H, W); "area", "mode"}: Meta's (OpenCV)
A spec without "checkpoint" runs only the function tasks.

This file runs only in the reference environment; it imports nothing from dualsam.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from functools import partial

import numpy as np
import torch
from segment_anything import SamAutomaticMaskGenerator, SamPredictor
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer


def build_sam(arch: dict, checkpoint: str) -> Sam:
    """Meta's Sam with the given module sizes, loaded strictly from ``checkpoint``."""
    sam = new_sam(arch)
    state = torch.load(checkpoint, map_location="cpu")
    sam.load_state_dict(state, strict=True)
    return sam.eval()


def new_sam(arch: dict) -> Sam:
    """Meta's Sam with the given module sizes and Meta's own initialization (no checkpoint)."""
    embed = arch["prompt_embed_dim"]
    grid = arch["image_size"] // arch["patch_size"]
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=arch["image_size"],
            patch_size=arch["patch_size"],
            embed_dim=arch["encoder_embed_dim"],
            depth=arch["encoder_depth"],
            num_heads=arch["encoder_num_heads"],
            mlp_ratio=arch["encoder_mlp_ratio"],
            out_chans=embed,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_abs_pos=True,
            use_rel_pos=True,
            window_size=arch["window_size"],
            global_attn_indexes=tuple(arch["global_attn_indexes"]),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=embed,
            image_embedding_size=(grid, grid),
            input_image_size=(arch["image_size"], arch["image_size"]),
            mask_in_chans=arch["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=arch["decoder_depth"],
                embedding_dim=embed,
                mlp_dim=arch["decoder_mlp_dim"],
                num_heads=arch["decoder_num_heads"],
            ),
            transformer_dim=embed,
            iou_head_depth=3,
            iou_head_hidden_dim=arch["iou_head_hidden_dim"],
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam


def _maybe(task: dict, key: str, dtype) -> np.ndarray | None:
    return None if task.get(key) is None else np.asarray(task[key], dtype=dtype)


def run_predict(predictor: SamPredictor, task: dict, arrays: dict) -> None:
    name = task["name"]
    mask_input = None
    if task.get("mask_input_from"):
        source = task["mask_input_from"]
        best = int(np.argmax(arrays[f"{source}/scores"]))
        mask_input = arrays[f"{source}/low_res"][best][None]
    masks, scores, low_res = predictor.predict(
        point_coords=_maybe(task, "point_coords", np.float64),
        point_labels=_maybe(task, "point_labels", np.int64),
        box=_maybe(task, "box", np.float64),
        mask_input=mask_input,
        multimask_output=task.get("multimask_output", True),
        return_logits=task.get("return_logits", False),
    )
    arrays[f"{name}/masks"], arrays[f"{name}/scores"], arrays[f"{name}/low_res"] = masks, scores, low_res


def run_predict_torch(predictor: SamPredictor, task: dict, arrays: dict) -> None:
    """Many prompts in one decoder call: Meta's batched predict_torch with transformed prompts."""
    size = predictor.original_size
    points = labels = boxes = None
    if task.get("point_coords") is not None:
        points = torch.as_tensor(predictor.transform.apply_coords(np.asarray(task["point_coords"]), size))
        points = points.float()
        labels = torch.as_tensor(np.asarray(task["point_labels"]), dtype=torch.int)
    if task.get("boxes") is not None:
        boxes = torch.as_tensor(predictor.transform.apply_boxes(np.asarray(task["boxes"]), size)).float()
    with torch.no_grad():
        masks, scores, low_res = predictor.predict_torch(
            points, labels, boxes, None, multimask_output=task.get("multimask_output", True), return_logits=True
        )
    name = task["name"]
    arrays[f"{name}/masks"], arrays[f"{name}/scores"] = masks.numpy(), scores.numpy()
    arrays[f"{name}/low_res"] = low_res.numpy()


def use_synthetic_decoder(sam: Sam) -> None:
    """Routes single-point prompts straight to synthetic_decode (see synthetic_decoder.py)."""
    from synthetic_decoder import synthetic_decode

    def prompt_encoder(points=None, boxes=None, masks=None):
        return points[0][:, 0, :].to(torch.float32), None

    def mask_decoder(image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, multimask_output):
        logits, scores = synthetic_decode(image_embeddings, sparse_prompt_embeddings)
        keep = slice(1, None) if multimask_output else slice(0, 1)
        return logits[:, keep], scores[:, keep]

    sam.prompt_encoder.forward = prompt_encoder
    sam.mask_decoder.forward = mask_decoder


def run_amg(sam: Sam, image: np.ndarray, task: dict, arrays: dict, report: dict) -> None:
    if task.get("synthetic"):
        use_synthetic_decoder(sam)
    generator = SamAutomaticMaskGenerator(sam, **task.get("kwargs", {}))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    records = generator.generate(image)
    elapsed = time.perf_counter() - start
    name = task["name"]
    mode = task.get("kwargs", {}).get("output_mode", "binary_mask")
    out = []
    for index, record in enumerate(records):
        record = dict(record)
        if mode == "binary_mask":
            arrays[f"{name}/mask{index}"] = record.pop("segmentation")
        out.append(record)
    report[name] = {
        "records": out,
        "seconds": elapsed,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_before_kb": rss_before,
    }


def run_function(task: dict, arrays: dict) -> None:
    """Reference building blocks: torchvision's batched NMS and Meta's OpenCV small-region removal."""
    from segment_anything.utils.amg import remove_small_regions
    from torchvision.ops import batched_nms

    name = task["name"]
    with np.load(task["input"]) as data:
        inputs = {k: data[k] for k in data.files}
    if task["kind"] == "batched_nms":
        keep = batched_nms(
            torch.from_numpy(inputs["boxes"]).float(),
            torch.from_numpy(inputs["scores"]),
            torch.from_numpy(inputs["idxs"]),
            iou_threshold=task["iou_threshold"],
        )
        arrays[f"{name}/keep"] = keep.numpy()
        return
    results = [remove_small_regions(mask, task["area"], task["mode"]) for mask in inputs["masks"]]
    arrays[f"{name}/masks"] = np.stack([mask for mask, _ in results])
    arrays[f"{name}/changed"] = np.array([changed for _, changed in results])


FUNCTION_TASKS = ("batched_nms", "small_regions")


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    torch.manual_seed(0)
    torch.set_num_threads(spec.get("threads", 1))
    arrays: dict[str, np.ndarray] = {}
    report: dict = {}
    model_tasks = [task for task in spec["tasks"] if task["kind"] not in FUNCTION_TASKS]
    for task in spec["tasks"]:
        if task["kind"] in FUNCTION_TASKS:
            run_function(task, arrays)
    if model_tasks:
        run_model_tasks(spec, model_tasks, arrays, report)
    np.savez(spec["out"], **arrays)
    with open(spec["out"] + ".json", "w", encoding="utf-8") as handle:
        json.dump(report, handle)


def run_model_tasks(spec: dict, tasks: list[dict], arrays: dict, report: dict) -> None:
    sam = build_sam(spec["arch"], spec["checkpoint"])
    image = np.load(spec["image"])
    predictor = SamPredictor(sam)
    with torch.no_grad():
        if any(task["kind"] != "amg" for task in tasks):
            predictor.set_image(image, image_format=spec.get("image_format", "RGB"))
        for task in tasks:
            if task["kind"] == "predict":
                run_predict(predictor, task, arrays)
            elif task["kind"] == "predict_torch":
                run_predict_torch(predictor, task, arrays)
            elif task["kind"] == "embedding":
                arrays[f"{task['name']}/embedding"] = predictor.get_image_embedding().numpy()
            elif task["kind"] == "onnx_decoder":
                from tests.oracles.meta_onnx_export import export_meta_decoder

                export_meta_decoder(sam, task)
            elif task["kind"] == "amg":
                fresh = build_sam(spec["arch"], spec["checkpoint"]) if task.get("synthetic") else sam
                run_amg(fresh, image, task, arrays, report)
            else:
                raise ValueError(f"unknown task kind {task['kind']!r}")


if __name__ == "__main__":
    main(sys.argv[1])
