"""The server's one model: encoding uploads, decoding clicks and segmenting everything, safe across threads.

Every call builds its own SamPredictor (a few attributes; the model is shared), so no request sees another's image
state. Model calls take a slot: torch and ONNX Runtime run one model from several threads at once, so they get
CONCURRENT_SLOTS (a long segment-everything job then never holds up the clicks, and no more work runs at once than
the cores can take, each call using the framework's own threads); any other backend (Keras on TensorFlow) gets one
slot, a plain lock. The long calls (encoding an upload, segmenting everything) take at most all slots but one, so a
click always finds a slot free of them: eight ViT-B uploads arriving at once are encoded one after another while the
clicks on images already encoded go on.

Shape legend: H, W image size; N points; K masks; C, g embedding channels and grid; L low-res mask side.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from sam_core.backend import as_backend
from sam_core.predictor import SamPredictor
from sam_core.tensors import to_numpy

from ..generate import generate_masks
from ..models import LoadedModel
from ..segment import SegmentResult, segment_image
from .cache import CachedImage, image_id

#: Backends whose models may run in several threads at once (inference only, no shared mutable state).
CONCURRENT_BACKENDS = ("torch", "onnx")
#: Model calls at once on those backends.
CONCURRENT_SLOTS = 2


class ModelSession:
    """The loaded model and how requests share it.

    Args:
        loaded: the model (``dualsam.models.load_model``).

    Attributes:
        image_size: S, the model's input side.
        low_res_size: L, the side of mask inputs and low-res logits.
    """

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        backend = as_backend(loaded.model)
        self.image_size = int(backend.image_size)
        self.low_res_size = int(backend.low_res_size)
        self.slots = CONCURRENT_SLOTS if loaded.backend in CONCURRENT_BACKENDS else 1
        self._slots = threading.BoundedSemaphore(self.slots)
        self._long_calls = threading.BoundedSemaphore(max(1, self.slots - 1))

    @contextmanager
    def _turn(self, long: bool = False) -> Iterator[None]:
        """Holds one of the model's slots; a ``long`` call (encode, generate) first waits for a long-call slot."""
        if long:
            with self._long_calls, self._slots:
                yield
        else:
            with self._slots:
                yield

    def encode(self, rgb: np.ndarray) -> CachedImage:
        """Embeds (H, W, 3) uint8 pixels once; returns the cache entry (id, pixels, native (1, C, g, g) embedding)."""
        predictor = SamPredictor(self.loaded.model)
        with self._turn(long=True):
            predictor.set_image(rgb)
        embedding = predictor.features
        nbytes = int(rgb.nbytes) + int(to_numpy(embedding).nbytes)
        return CachedImage(image_id(rgb), rgb, embedding, nbytes)

    def segment(self, entry: CachedImage, **prompts: Any) -> SegmentResult:
        """Masks for prompts on a cached image (``dualsam.segment.segment_image`` keyword arguments: points,
        labels, box, multimask, mask_input).

        Raises:
            ValueError: bad prompts, naming the argument.
        """
        predictor = SamPredictor(self.loaded.model)
        predictor.set_image_embedding(entry.embedding, entry.size)
        with self._turn():
            return segment_image(predictor, **prompts)

    def generate(
        self, entry: CachedImage, progress: Callable[[int, int], None] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        """Every mask of a cached image (``dualsam.generate.generate_masks``) as COCO-RLE records, reusing its
        embedding; ``progress(batches_done, batches_total)`` is called as it goes.

        Raises:
            TypeError, ValueError: a bad option, by name.
        """
        with self._turn(long=True):
            return generate_masks(
                self.loaded.model, entry.rgb, progress=progress, image_embedding=entry.embedding, **options
            )

    def describe(self) -> dict[str, Any]:
        """The model and backend, for /api/health."""
        return {**self.loaded.describe(), "backend": self.loaded.backend, "image_size": self.image_size}
