"""dualsam, the application: the command line, model loading (``--model`` / ``--backend``), overlays, and the use
cases that the CLI, batch runs and a server share, each a function that returns data.

Layers (each imports only those below it; ``tests/test_layers.py`` checks it)::

    dualsam            CLI, model-spec resolution, backend choice, use cases
    weights_convert    the conversion pipeline, manifest, verify
    sam_torch, sam_tf  the models (PyTorch, Keras 3)
    sam_core           numpy + pillow: configs, processors, predictor / AMG math, checkpoint formats

Importing this package imports no framework.
"""

from .generate import AMG_DEFAULTS, generate_masks
from .models import LoadedModel, ModelError, load_model
from .segment import SegmentResult, segment_image

__all__ = [
    "AMG_DEFAULTS", "LoadedModel", "ModelError", "SegmentResult", "generate_masks", "load_model", "segment_image",
]  # fmt: skip
