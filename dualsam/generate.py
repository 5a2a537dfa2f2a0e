"""The generate use case: every mask in one image (Meta's automatic mask generator), returned as COCO-RLE records.

The CLI (``dualsam generate``), batch runs and a server call :func:`generate_masks`. Importing this module imports
no framework.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from sam_core.mask_generator import SamAutomaticMaskGenerator

#: The generator's tunable arguments (its signature's defaults are the one source of the defaults).
AMG_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(SamAutomaticMaskGenerator.__init__).parameters.items()
    if name not in ("self", "model", "point_grids", "output_mode", "progress")
    and parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
}


def generate_masks(
    model: Any,
    image: np.ndarray,
    *,
    progress: bool | Callable[[int, int], None] | None = None,
    image_embedding: Any = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Segments everything in ``image``.

    Args:
        model: a SAM model of any backend, or a PredictionBackend.
        image: (H, W, 3) uint8 RGB.
        progress: a progress bar (None: only on a terminal), or a callable ``progress(batches_done, batches_total)``.
        image_embedding: the image's (1, C, g, g) embedding when it was computed already (batched encoder calls).
        **options: SamAutomaticMaskGenerator arguments (see ``AMG_DEFAULTS``).

    Returns:
        Meta's records, with ``segmentation`` as COCO RLE ({"size": [H, W], "counts": str}).

    Raises:
        TypeError: an unknown option, by name.
        ValueError: a bad option value or image, naming it.
    """
    unknown = sorted(set(options) - set(AMG_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown mask-generator option(s): {', '.join(unknown)}")
    generator = SamAutomaticMaskGenerator(model, output_mode="coco_rle", progress=progress, **options)
    return generator.generate(image, image_embedding=image_embedding)
