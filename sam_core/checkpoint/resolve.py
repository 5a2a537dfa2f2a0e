"""A checkpoint's config and image processor: from an explicit config, the source directory, or the shapes.

Meta's two-way transformer builds its LayerNorms with torch's default eps (1e-5), where transformers' mask-decoder
config defaults to 1e-6; transformers reads ``mask_decoder_config.layer_norm_eps`` from config.json for exactly
those norms. A conversion from Meta therefore writes 1e-5 there, so that dualsam and transformers both compute
Meta's function.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping

import numpy as np

from ..config import CONFIG_NAME, SAM_PRESETS, SamConfig
from ..image_processing import SamImageProcessor
from ..weights import CheckpointError
from .files import Source
from .infer import infer_config
from .read import META

#: torch.nn.LayerNorm's default eps, used by Meta's TwoWayTransformer norms.
META_DECODER_LAYER_NORM_EPS = 1e-5
#: Meta's Sam normalizes 0-255 pixels with these; the processor's ImageNet defaults times 255 must agree.
META_PIXEL_KEYS = {"pixel_mean": "image_mean", "pixel_std": "image_std"}
PIXEL_STATS_ATOL = 1e-3


def _load_config_file(path: str) -> SamConfig:
    try:
        with open(path, encoding="utf-8") as handle:
            return SamConfig.from_dict(json.load(handle))
    except (OSError, json.JSONDecodeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is not a valid SAM config.json: {error}") from error


def config_from_option(option: str) -> tuple[SamConfig, str]:
    """--config: a preset name, a config.json path, or a directory holding one. No Hub look-ups."""
    if option in SAM_PRESETS and not os.path.exists(option):
        return SamConfig.from_preset(option), f"preset {option}"
    path = os.path.join(option, CONFIG_NAME) if os.path.isdir(option) else option
    if not os.path.isfile(path):
        raise CheckpointError(f"--config {option}: not a preset ({', '.join(SAM_PRESETS)}) nor a config.json file")
    return _load_config_file(path), f"file {os.path.abspath(path)}"


def resolve_config(
    option: str | SamConfig | None, source: Source, layout: str, shapes: Mapping[str, tuple[int, ...]]
) -> tuple[SamConfig, str, list[str]]:
    """The output config and where it came from.

    Args:
        option: a SamConfig, a preset name or config.json path (--config), or None.
        source: the located source (its directory's config.json is used when --config is absent).
        layout: whose key names the source used (META gets Meta's decoder eps).
        shapes: canonical key -> shape, for inference when there is no config at all.

    Returns:
        (config, origin, notes).
    """
    notes: list[str] = []
    if isinstance(option, SamConfig):
        config, origin = SamConfig.from_dict(option.to_dict()), "the config given"
    elif option is not None:
        config, origin = config_from_option(option)
    elif source.config_path is not None:
        config, origin = _load_config_file(source.config_path), f"source {os.path.basename(source.config_path)}"
    else:
        config, notes = infer_config(shapes)
        origin = "inferred from tensor shapes"
    if layout == META:
        decoder = config.mask_decoder_config
        if decoder.layer_norm_eps != META_DECODER_LAYER_NORM_EPS:
            notes.append(
                f"mask_decoder_config.layer_norm_eps {decoder.layer_norm_eps:g} -> {META_DECODER_LAYER_NORM_EPS:g} "
                "(Meta's two-way transformer uses torch's LayerNorm default)"
            )
        decoder.layer_norm_eps = META_DECODER_LAYER_NORM_EPS
    return config, origin, notes


def resolve_processor(
    source: Source, config: SamConfig, dropped: Mapping[str, np.ndarray], warn: Callable[[str], None]
) -> SamImageProcessor:
    """The source directory's preprocessor_config.json, else defaults sized for the model.

    Meta checkpoints that carry ``pixel_mean`` / ``pixel_std`` (0-255 units) are checked against the processor's
    mean and std; when they differ, a warning is given and the checkpoint's values are written to the processor.
    """
    if source.processor_path is not None:
        try:
            with open(source.processor_path, encoding="utf-8") as handle:
                processor = SamImageProcessor.from_dict(json.load(handle))
        except (OSError, json.JSONDecodeError, ValueError, TypeError) as error:
            raise CheckpointError(f"{source.processor_path} is not a valid preprocessor config: {error}") from error
    else:
        side = config.vision_config.image_size
        processor = SamImageProcessor(size={"longest_edge": side}, pad_size={"height": side, "width": side})
    scale = 1.0 / processor.rescale_factor
    for key, field in META_PIXEL_KEYS.items():
        if key not in dropped:
            continue
        theirs = np.asarray(dropped[key], np.float64).reshape(-1)
        ours = np.asarray(getattr(processor, field), np.float64).reshape(-1) * scale
        if theirs.shape != ours.shape or not np.allclose(theirs, ours, atol=PIXEL_STATS_ATOL):
            warn(
                f"the checkpoint's {key} {np.round(theirs, 4).tolist()} differs from the processor's {field} x 255 "
                f"{np.round(ours, 4).tolist()}; writing the checkpoint's values to preprocessor_config.json"
            )
            setattr(processor, field, (theirs / scale).tolist())
    return processor
