"""dualsam's PyTorch backend: SamModel with the transformers API, sharing sam_core's configs and processors."""

# ruff: noqa: E402
from sam_core.frameworks import require_backend

require_backend("torch")  # without the framework: one ImportError that names pip install 'dualsam[torch]'

from sam_core import (
    SamConfig,
    SamImageProcessor,
    SamMaskDecoderConfig,
    SamProcessor,
    SamPromptEncoderConfig,
    SamVisionConfig,
)
from sam_core.outputs import SamImageSegmentationOutput

from .backend import ModelBackend
from .modeling import SamModel

__all__ = [
    "SamConfig",
    "SamImageProcessor",
    "SamImageSegmentationOutput",
    "ModelBackend",
    "SamMaskDecoderConfig",
    "SamModel",
    "SamProcessor",
    "SamPromptEncoderConfig",
    "SamVisionConfig",
]
