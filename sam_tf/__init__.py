"""dualsam's Keras 3 backend (TensorFlow): TFSamModel with the transformers API, sharing sam_core's configs and
processors."""

# ruff: noqa: E402
from sam_core.frameworks import require_backend

require_backend("tf")  # without the framework: one ImportError that names pip install 'dualsam[tf]'

from sam_core import (
    SamConfig,
    SamImageProcessor,
    SamMaskDecoderConfig,
    SamProcessor,
    SamPromptEncoderConfig,
    SamVisionConfig,
)
from sam_core.outputs import SamImageSegmentationOutput

from .backend import ModelBackend as TFModelBackend
from .modeling import TFSamModel

__all__ = [
    "SamConfig",
    "SamImageProcessor",
    "SamImageSegmentationOutput",
    "SamMaskDecoderConfig",
    "SamProcessor",
    "SamPromptEncoderConfig",
    "SamVisionConfig",
    "TFModelBackend",
    "TFSamModel",
]
