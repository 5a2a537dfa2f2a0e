"""In an environment holding only ``dualsam[onnx]`` (numpy, pillow, onnxruntime; no torch, no TensorFlow): run the
ONNX export of the tiny model that the full environment wrote, through ``dualsam segment|generate --backend onnx``
(one image and a dataset of two), SamPredictor and SamAutomaticMaskGenerator on ``OnnxBackend``, and the README's
ONNX Runtime snippet, and compare with the torch model's outputs on the same weights: scores within 1e-4, masks
agreeing on >= 99.9% of pixels (the tests are ``runtime_only.py``'s, shared with the LiteRT-only environment).

Run by ``make test-onnx-only`` (marker ``onnx_only``), on what ``tests/single_framework/make_fixtures.py`` wrote
(path in ``DUALSAM_SINGLE_FIXTURES``).
"""

from __future__ import annotations

import pytest

from .runtime_only import *  # noqa: F403 (the shared tests and fixtures)
from .runtime_only import RUNTIMES

pytestmark = pytest.mark.onnx_only


@pytest.fixture(scope="module")
def runtime() -> dict:
    return RUNTIMES["onnx"]
