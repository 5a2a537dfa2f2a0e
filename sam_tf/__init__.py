"""dualsam's Keras 3 backend (TensorFlow): TFSamModel with the transformers API, sharing sam_core's configs and
processors."""

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
