"""In an environment holding only ``dualsam[tflite]`` (numpy, pillow, ai-edge-litert; no torch, no TensorFlow): run
the LiteRT export of the tiny model that the full environment wrote, through ``dualsam segment|generate --backend
tflite`` (one image and a dataset of two), SamPredictor and SamAutomaticMaskGenerator on ``TfliteBackend``, and the
README's LiteRT snippet, and compare with the Keras model's outputs on the same weights: scores within 1e-4, masks
agreeing on >= 99.9% of pixels (the tests are ``runtime_only.py``'s, shared with the ONNX-only environment).

Run by ``make test-tflite-only`` (marker ``tflite_only``), on what ``tests/single_framework/make_fixtures.py`` wrote
(path in ``DUALSAM_SINGLE_FIXTURES``).
"""

from __future__ import annotations

import pytest

from .runtime_only import *  # noqa: F403 (the shared tests and fixtures)
from .runtime_only import RUNTIMES

pytestmark = pytest.mark.tflite_only


@pytest.fixture(scope="module")
def runtime() -> dict:
    return RUNTIMES["tflite"]
