"""Meta's own ONNX export of the prompt decoder (``segment_anything.utils.onnx.SamOnnxModel``, as its
``scripts/export_onnx_model.py`` drives it), run in .venv-meta for the comparison with our decoder.onnx.

Task: ``{"kind": "onnx_decoder", "name": ..., "path": file to write, "return_single_mask": bool, "opset": 17}``.
The export follows Meta's script: dynamic ``num_points`` on point_coords / point_labels, the six inputs and three
outputs under Meta's names, constant folding on, the exact (erf) GELU.

This file runs only in the reference environment; it imports nothing from dualsam.
"""

from __future__ import annotations

import torch
from segment_anything.modeling import Sam
from segment_anything.utils.onnx import SamOnnxModel

INPUT_NAMES = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"]
OUTPUT_NAMES = ["masks", "iou_predictions", "low_res_masks"]


def export_meta_decoder(sam: Sam, task: dict) -> None:
    """Writes Meta's decoder ONNX file for ``sam`` to ``task["path"]``."""
    wrapper = SamOnnxModel(model=sam, return_single_mask=bool(task.get("return_single_mask", False)))
    channels = sam.prompt_encoder.embed_dim
    grid = sam.prompt_encoder.image_embedding_size
    generator = torch.Generator().manual_seed(0)
    example = (
        torch.randn(1, channels, *grid, generator=generator),
        torch.randint(0, sam.image_encoder.img_size, (1, 5, 2), generator=generator).float(),
        torch.randint(0, 4, (1, 5), generator=generator).float(),
        torch.randn(1, 1, 4 * grid[0], 4 * grid[1], generator=generator),
        torch.tensor([1.0]),
        torch.tensor([1500.0, 2250.0]),
    )
    with torch.no_grad():
        torch.onnx.export(
            wrapper, example, task["path"], export_params=True, opset_version=int(task.get("opset", 17)),
            do_constant_folding=True, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
            dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}}, dynamo=False,
        )  # fmt: skip
