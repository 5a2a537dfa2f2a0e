"""dualsam's SAM weight converter: Meta's segment-anything .pth, transformers PyTorch and TensorFlow checkpoints
into a transformers-layout directory (config.json, preprocessor_config.json, model.safetensors and/or tf_model.h5,
dualsam_manifest.json), with optional verification on a fixed probe.

Command line: ``dualsam convert SRC DST`` or ``python -m weights_convert SRC DST``; in Python::

    from weights_convert import ConvertOptions, convert
    convert("sam_vit_b_01ec64.pth", "sam-vit-base", ConvertOptions(to="both", verify=True))
"""

from .errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_VERIFY_FAILED, ConvertError, VerifyError

__all__ = [
    "EXIT_BAD_INPUT", "EXIT_OK", "EXIT_VERIFY_FAILED", "ConvertError", "ConvertOptions", "VerifyError", "convert",
]  # fmt: skip


def __getattr__(name: str):
    """convert and ConvertOptions, imported on first use (they pull in numpy, tqdm and the readers)."""
    if name in ("convert", "ConvertOptions", "ConvertResult"):
        from . import pipeline as module

        return getattr(module, name)
    raise AttributeError(f"module 'weights_convert' has no attribute {name!r}")
