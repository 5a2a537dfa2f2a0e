"""Segment the object under a point, the transformers way, with dualsam's PyTorch backend.

    python examples/segment_point.py [--model DIR] [--image PATH] [--point X,Y] [--out DIR]

Without --model it builds a small SAM with random weights, saves it with save_pretrained and loads it back, so
the whole pipeline runs offline; its masks are not meaningful. Pass a converted or transformers checkpoint
directory for real masks.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import torch
from PIL import Image

from sam_core import SamConfig, SamImageProcessor
from sam_torch import SamModel, SamProcessor

EXAMPLE_CONFIG = dict(
    vision_config=dict(hidden_size=96, num_hidden_layers=2, num_attention_heads=4, mlp_dim=192,
                       output_channels=64, global_attn_indexes=[1], num_pos_feats=32),
    prompt_encoder_config=dict(hidden_size=64),
    mask_decoder_config=dict(hidden_size=64, mlp_dim=128, iou_head_hidden_dim=64),
)


def example_image(height: int = 480, width: int = 640) -> Image.Image:
    """A synthetic scene: a yellow disc and a blue box on a gradient."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 200 // width, yy * 200 // height, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    image[(xx - 220) ** 2 + (yy - 260) ** 2 < 110**2] = (240, 210, 40)
    image[60:180, 400:600] = (30, 40, 160)
    return Image.fromarray(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a transformers-layout SAM directory or hub id")
    parser.add_argument("--image", help="an image file (default: a synthetic scene)")
    parser.add_argument("--point", default="220,260", help="X,Y in image pixels")
    parser.add_argument("--out", default="out/demo")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        if model_dir is None:
            torch.manual_seed(0)
            model_dir = os.path.join(scratch, "random-sam")
            SamModel(SamConfig(**EXAMPLE_CONFIG)).save_pretrained(model_dir)
            SamProcessor(SamImageProcessor()).save_pretrained(model_dir)
            print("no --model given: using a small SAM with random weights (masks are not meaningful)")
        model = SamModel.from_pretrained(model_dir)
        processor = SamProcessor.from_pretrained(model_dir)

    image = Image.open(args.image).convert("RGB") if args.image else example_image()
    x, y = (float(v) for v in args.point.split(","))
    inputs = processor(image, input_points=[[[x, y]]], return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)
    masks = processor.post_process_masks(outputs.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"])
    scores = outputs.iou_scores[0, 0]
    best = int(scores.argmax())
    os.makedirs(args.out, exist_ok=True)
    mask = masks[0][0, best].numpy()
    Image.fromarray((mask * 255).astype(np.uint8)).save(os.path.join(args.out, "mask.png"))
    print(f"masks {tuple(masks[0].shape)}, iou scores {[round(float(s), 4) for s in scores]}, "
          f"best mask {best} covers {mask.mean():.1%} of the image -> {args.out}/mask.png")


if __name__ == "__main__":
    main()
