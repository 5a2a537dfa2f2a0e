"""dualsam's framework-neutral core: configs, pre- and post-processing (numpy + pillow only).

Importing this package never imports torch or tensorflow; they are loaded lazily where a tensor is asked for.
"""

from .config import SAM_PRESETS, SamConfig, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig
from .image_processing import SamImageProcessor
from .mask_generator import SamAutomaticMaskGenerator
from .predictor import SamPredictor
from .processing import SamProcessor

__all__ = [
    "SAM_PRESETS",
    "SamAutomaticMaskGenerator",
    "SamConfig",
    "SamImageProcessor",
    "SamMaskDecoderConfig",
    "SamPredictor",
    "SamProcessor",
    "SamPromptEncoderConfig",
    "SamVisionConfig",
]
