"""Files shipped with the package: the example image with its prompts, and the default model."""

from __future__ import annotations

from pathlib import Path

import sam_core

#: Package data (installed with sam_core).
DATA_DIR = Path(sam_core.__file__).resolve().parent / "data"
#: The example image (drawn by scripts/make_example_image.py), used when IMAGE is omitted, and its prompt file (the
#: default point, each object's box and most interior point).
EXAMPLE_IMAGE = DATA_DIR / "example.png"
EXAMPLE_PROMPTS = EXAMPLE_IMAGE.with_suffix(".json")
#: The small default model (config.json + model.safetensors), trained on synthetic shapes.
DEFAULT_MODEL_DIR = DATA_DIR / "default_model"
