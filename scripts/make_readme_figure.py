"""Draws the README's picture of the default model (docs/default_model_example.png): three ``dualsam segment``
overlays on the shipped example image, side by side.

    python scripts/make_readme_figure.py

The prompts: the example's default point (the ellipse), a point on the dark polygon, and a box around the
gradient rectangle (its tight box from sam_core/data/example.json).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np
from PIL import Image

from dualsam.cli import main as dualsam
from dualsam.cli_common import EXAMPLE_PROMPTS
from sam_core.atomic import atomic_path

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "default_model_example.png")
PANEL_WIDTH, GAP = 320, 8


def prompt_sets() -> list[list[str]]:
    """The CLI prompt arguments of each panel."""
    with open(EXAMPLE_PROMPTS, encoding="utf-8") as handle:
        example = json.load(handle)
    polygon, rectangle = example["objects"][1], example["objects"][2]
    x, y = polygon["interior_point"]
    return [[], ["--point", f"{x},{y}"], ["--box", ",".join(str(v) for v in rectangle["box"])]]


def main() -> int:
    panels = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, prompts in enumerate(prompt_sets()):
            out = os.path.join(scratch, str(index))
            if dualsam(["segment", *prompts, "--out", out]) != 0:
                return 1
            overlay = Image.open(os.path.join(out, "overlay.png")).convert("RGB")
            height = round(overlay.height * PANEL_WIDTH / overlay.width)
            panels.append(np.asarray(overlay.resize((PANEL_WIDTH, height), Image.LANCZOS)))
    height = panels[0].shape[0]
    canvas = np.full((height, len(panels) * PANEL_WIDTH + (len(panels) - 1) * GAP, 3), 255, np.uint8)
    for index, panel in enumerate(panels):
        left = index * (PANEL_WIDTH + GAP)
        canvas[:, left : left + PANEL_WIDTH] = panel
    with atomic_path(OUT) as tmp:
        Image.fromarray(canvas).save(tmp, format="PNG")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
