"""SAM configurations as plain Python objects that read and write transformers' ``config.json``.

The keyword arguments, defaults and attribute names are those of transformers' ``SamConfig``,
``SamVisionConfig``, ``SamPromptEncoderConfig`` and ``SamMaskDecoderConfig``, so both backends (and
transformers itself) can build from the same object or file. Unknown keys are kept in ``extra`` and written
back unchanged. Invalid values raise ValueError naming the field.
"""

from __future__ import annotations

import copy
import json
import numbers
import os
from typing import Any, ClassVar

from .atomic import json_text, write_json
from .hub import resolve_file

CONFIG_NAME = "config.json"

# Bookkeeping keys that transformers adds at the top level; they are dropped on reading.
_DROPPED_TOP_LEVEL_KEYS = ("transformers_version", "_name_or_path", "_commit_hash", "architectures", "model_type")


class _SubConfig:
    """Shared behaviour of the three sub-configs: dict round trip, equality, validation helpers."""

    model_type: ClassVar[str] = ""
    _fields: ClassVar[tuple[str, ...]] = ()
    _derived: ClassVar[tuple[str, ...]] = ()

    def _keep_extra(self, kwargs: dict[str, Any]) -> None:
        self.extra = {k: v for k, v in kwargs.items() if k != "model_type" and k not in self._derived}

    def to_dict(self) -> dict[str, Any]:
        """The transformers-style dict: every field (derived ones included), ``model_type`` and the extras."""
        out = copy.deepcopy(self.extra)
        out.update({name: copy.deepcopy(getattr(self, name)) for name in self._fields + self._derived})
        out["model_type"] = self.model_type
        return out

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any]):
        """Builds the config from a dict such as ``to_dict()`` or a transformers config.json section."""
        if not isinstance(config_dict, dict):
            raise TypeError(f"{cls.__name__}.from_dict expects a dict, got {type(config_dict).__name__}")
        return cls(**config_dict)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({args})"

    def _check_int(self, name: str, minimum: int = 1) -> None:
        """Checks an integer field (numpy integers are turned into int, so the config stays JSON-ready)."""
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"{type(self).__name__}.{name} must be an integer >= {minimum}, got {value!r}")
        setattr(self, name, int(value))

    def _check_positive_float(self, name: str) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{type(self).__name__}.{name} must be a positive number, got {value!r}")

    def _check_divisible(self, name: str, value: int, divisor_name: str, divisor: int) -> None:
        if value % divisor != 0:
            raise ValueError(
                f"{type(self).__name__}.{name} ({value}) must be divisible by {divisor_name} ({divisor})"
            )


class SamVisionConfig(_SubConfig):
    """The ViT image encoder. Defaults give ViT-B (as transformers' defaults do).

    Args:
        hidden_size: width of the transformer layers.
        output_channels: channels of the neck's output, i.e. of the image embeddings.
        num_hidden_layers: number of transformer layers.
        num_attention_heads: heads per attention layer; must divide ``hidden_size``.
        num_channels: input image channels.
        image_size: side of the (square, padded) input image; must be divisible by ``patch_size``.
        patch_size: side of a patch.
        hidden_act: activation of the MLPs.
        layer_norm_eps: layer-norm epsilon.
        attention_dropout: attention dropout (unused at inference).
        initializer_range: std of the weight init.
        qkv_bias: whether the qkv projection has a bias.
        mlp_ratio: MLP width / hidden width, used when ``mlp_dim`` is None.
        use_abs_pos: whether to add the absolute position embedding.
        use_rel_pos: whether attention uses decomposed relative positions.
        window_size: side of the attention windows of the non-global layers (0: all global).
        global_attn_indexes: indexes of the layers with global attention.
        num_pos_feats: features of the random-Fourier positional encoding (half the prompt width).
        mlp_dim: MLP width; None resolves to ``int(hidden_size * mlp_ratio)``.
    """

    model_type: ClassVar[str] = "sam_vision_model"
    _fields: ClassVar[tuple[str, ...]] = (
        "hidden_size", "output_channels", "num_hidden_layers", "num_attention_heads", "num_channels",
        "image_size", "patch_size", "hidden_act", "layer_norm_eps", "attention_dropout", "initializer_range",
        "qkv_bias", "mlp_ratio", "use_abs_pos", "use_rel_pos", "window_size", "global_attn_indexes",
        "num_pos_feats", "mlp_dim",
    )  # fmt: skip

    def __init__(
        self,
        hidden_size: int = 768,
        output_channels: int = 256,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        num_channels: int = 3,
        image_size: int = 1024,
        patch_size: int = 16,
        hidden_act: str = "gelu",
        layer_norm_eps: float = 1e-06,
        attention_dropout: float = 0.0,
        initializer_range: float = 1e-10,
        qkv_bias: bool = True,
        mlp_ratio: float = 4.0,
        use_abs_pos: bool = True,
        use_rel_pos: bool = True,
        window_size: int = 14,
        global_attn_indexes: list[int] | tuple[int, ...] = (2, 5, 8, 11),
        num_pos_feats: int = 128,
        mlp_dim: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.hidden_size = hidden_size
        self.output_channels = output_channels
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_channels = num_channels
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.attention_dropout = attention_dropout
        self.initializer_range = initializer_range
        self.qkv_bias = qkv_bias
        self.mlp_ratio = mlp_ratio
        self.use_abs_pos = use_abs_pos
        self.use_rel_pos = use_rel_pos
        self.window_size = window_size
        self.global_attn_indexes = list(global_attn_indexes)
        self.num_pos_feats = num_pos_feats
        self._check_positive_float("mlp_ratio")
        self.mlp_dim = int(hidden_size * mlp_ratio) if mlp_dim is None else mlp_dim
        self._keep_extra(kwargs)
        self._validate()

    def _validate(self) -> None:
        for name in ("hidden_size", "output_channels", "num_hidden_layers", "num_attention_heads",
                     "num_channels", "image_size", "patch_size", "num_pos_feats", "mlp_dim"):  # fmt: skip
            self._check_int(name)
        self._check_int("window_size", minimum=0)
        self._check_positive_float("layer_norm_eps")
        self._check_divisible("hidden_size", self.hidden_size, "num_attention_heads", self.num_attention_heads)
        self._check_divisible("image_size", self.image_size, "patch_size", self.patch_size)
        for index in self.global_attn_indexes:
            valid = isinstance(index, numbers.Integral) and not isinstance(index, bool)
            if not valid or not 0 <= index < self.num_hidden_layers:
                raise ValueError(
                    f"SamVisionConfig.global_attn_indexes must lie in range(num_hidden_layers="
                    f"{self.num_hidden_layers}), got {self.global_attn_indexes}"
                )
        self.global_attn_indexes = [int(index) for index in self.global_attn_indexes]

    @property
    def grid_size(self) -> int:
        """Side g of the image-embedding grid: ``image_size // patch_size`` (64 for 1024 / 16).

        The vision encoder maps (B, 3, S, S) pixels to (B, output_channels, g, g) embeddings; low-res masks are
        (4g, 4g). Read-only, and not written to config.json.
        """
        return self.image_size // self.patch_size


class SamPromptEncoderConfig(_SubConfig):
    """The prompt encoder (points, boxes, masks).

    Args:
        hidden_size: width of the prompt embeddings (equals the vision ``output_channels``).
        image_size: side of the padded input image.
        patch_size: side of a patch; ``image_embedding_size = image_size // patch_size``.
        mask_input_channels: hidden channels of the mask downscaling convolutions.
        num_point_embeddings: learned point-type embeddings (fg, bg, box corners).
        hidden_act: activation of the mask downscaling.
        layer_norm_eps: layer-norm epsilon.
    """

    _fields: ClassVar[tuple[str, ...]] = (
        "hidden_size", "image_size", "patch_size", "mask_input_channels", "num_point_embeddings", "hidden_act",
        "layer_norm_eps",
    )  # fmt: skip
    _derived: ClassVar[tuple[str, ...]] = ("image_embedding_size",)

    def __init__(
        self,
        hidden_size: int = 256,
        image_size: int = 1024,
        patch_size: int = 16,
        mask_input_channels: int = 16,
        num_point_embeddings: int = 4,
        hidden_act: str = "gelu",
        layer_norm_eps: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        self.hidden_size = hidden_size
        self.image_size = image_size
        self.patch_size = patch_size
        self.mask_input_channels = mask_input_channels
        self.num_point_embeddings = num_point_embeddings
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self._keep_extra(kwargs)
        for name in ("hidden_size", "image_size", "patch_size", "mask_input_channels", "num_point_embeddings"):
            self._check_int(name)
        self._check_positive_float("layer_norm_eps")
        self._check_divisible("image_size", self.image_size, "patch_size", self.patch_size)

    @property
    def image_embedding_size(self) -> int:
        """Side of the image-embedding grid (64 for 1024 / 16)."""
        return self.image_size // self.patch_size


class SamMaskDecoderConfig(_SubConfig):
    """The two-way transformer mask decoder.

    Args:
        hidden_size: width of the decoder tokens (equals the vision ``output_channels``).
        hidden_act: activation of the MLPs.
        mlp_dim: width of the two-way transformer's MLP.
        num_hidden_layers: two-way attention blocks.
        num_attention_heads: heads per attention; must divide ``hidden_size // attention_downsample_rate``.
        attention_downsample_rate: how much the cross-attentions shrink the width.
        num_multimask_outputs: masks predicted besides the single-mask output.
        iou_head_depth: layers of the IoU prediction MLP (at least 2: input and output projections).
        iou_head_hidden_dim: width of the IoU prediction MLP.
        layer_norm_eps: layer-norm epsilon.
    """

    _fields: ClassVar[tuple[str, ...]] = (
        "hidden_size", "hidden_act", "mlp_dim", "num_hidden_layers", "num_attention_heads",
        "attention_downsample_rate", "num_multimask_outputs", "iou_head_depth", "iou_head_hidden_dim",
        "layer_norm_eps",
    )  # fmt: skip

    def __init__(
        self,
        hidden_size: int = 256,
        hidden_act: str = "relu",
        mlp_dim: int = 2048,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 8,
        attention_downsample_rate: int = 2,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
        layer_norm_eps: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        self.hidden_size = hidden_size
        self.hidden_act = hidden_act
        self.mlp_dim = mlp_dim
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.attention_downsample_rate = attention_downsample_rate
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_head_depth = iou_head_depth
        self.iou_head_hidden_dim = iou_head_hidden_dim
        self.layer_norm_eps = layer_norm_eps
        self._keep_extra(kwargs)
        for name in ("hidden_size", "mlp_dim", "num_hidden_layers", "num_attention_heads",
                     "attention_downsample_rate", "num_multimask_outputs", "iou_head_hidden_dim"):  # fmt: skip
            self._check_int(name)
        self._check_int("iou_head_depth", minimum=2)
        self._check_positive_float("layer_norm_eps")
        self._check_divisible("hidden_size", self.hidden_size, "num_attention_heads", self.num_attention_heads)
        internal = self.hidden_size // self.attention_downsample_rate
        if internal < 1 or internal % self.num_attention_heads != 0:
            raise ValueError(
                f"SamMaskDecoderConfig.num_attention_heads ({self.num_attention_heads}) must divide "
                f"hidden_size // attention_downsample_rate ({internal}), the width of the cross-attentions"
            )


# Architecture presets. SlimSAM's Hub configs (nielsr/slimsam-50-uniform, nielsr/slimsam-77-uniform) override only
# the vision hidden_size and mlp_dim; layers, heads and global_attn_indexes keep the ViT-B defaults.
SAM_PRESETS: dict[str, dict[str, Any]] = {
    "sam-vit-base": {"vision_config": {}},
    "sam-vit-large": {
        "vision_config": {
            "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
            "global_attn_indexes": [5, 11, 17, 23],
        }
    },
    "sam-vit-huge": {
        "vision_config": {
            "hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
            "global_attn_indexes": [7, 15, 23, 31],
        }
    },
    "slimsam-50": {"vision_config": {"hidden_size": 384, "mlp_dim": 1536}},
    "slimsam-77": {"vision_config": {"hidden_size": 168, "mlp_dim": 696}},
}  # fmt: skip


def _sub_config(value: Any, cls: type[_SubConfig], name: str) -> _SubConfig:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return copy.deepcopy(value)
    if isinstance(value, dict):
        return cls(**value)
    raise TypeError(f"SamConfig.{name} must be a dict or a {cls.__name__}, got {type(value).__name__}")


class SamConfig:
    """The whole SAM model: vision encoder, prompt encoder and mask decoder configs.

    Args:
        vision_config: a SamVisionConfig or its dict (None: defaults).
        prompt_encoder_config: a SamPromptEncoderConfig or its dict (None: defaults).
        mask_decoder_config: a SamMaskDecoderConfig or its dict (None: defaults).
        initializer_range: std of the weight init.
        **kwargs: other keys; kept in ``extra`` and written back to config.json.
    """

    model_type: ClassVar[str] = "sam"

    def __init__(
        self,
        vision_config: SamVisionConfig | dict[str, Any] | None = None,
        prompt_encoder_config: SamPromptEncoderConfig | dict[str, Any] | None = None,
        mask_decoder_config: SamMaskDecoderConfig | dict[str, Any] | None = None,
        initializer_range: float = 0.02,
        **kwargs: Any,
    ) -> None:
        self.vision_config = _sub_config(vision_config, SamVisionConfig, "vision_config")
        self.prompt_encoder_config = _sub_config(prompt_encoder_config, SamPromptEncoderConfig, "prompt_encoder_config")
        self.mask_decoder_config = _sub_config(mask_decoder_config, SamMaskDecoderConfig, "mask_decoder_config")
        self.initializer_range = initializer_range
        self.extra = {k: v for k, v in kwargs.items() if k not in _DROPPED_TOP_LEVEL_KEYS}
        self._validate()

    def _validate(self) -> None:
        vision, prompt, decoder = self.vision_config, self.prompt_encoder_config, self.mask_decoder_config
        widths = {
            "vision_config.output_channels": vision.output_channels,
            "prompt_encoder_config.hidden_size": prompt.hidden_size,
            "mask_decoder_config.hidden_size": decoder.hidden_size,
            "2 * vision_config.num_pos_feats": 2 * vision.num_pos_feats,
        }
        if len(set(widths.values())) != 1:
            raise ValueError(f"SamConfig: these widths must be equal: {widths}")
        if prompt.image_embedding_size != vision.grid_size:
            raise ValueError(
                "SamConfig: prompt_encoder_config.image_size // patch_size "
                f"({prompt.image_embedding_size}) must equal vision_config.image_size // patch_size "
                f"({vision.grid_size})"
            )

    def to_dict(self) -> dict[str, Any]:
        """The transformers config.json content (with ``model_type`` and ``architectures``)."""
        out = copy.deepcopy(self.extra)
        out.update(
            architectures=["SamModel"],
            model_type=self.model_type,
            initializer_range=self.initializer_range,
            vision_config=self.vision_config.to_dict(),
            prompt_encoder_config=self.prompt_encoder_config.to_dict(),
            mask_decoder_config=self.mask_decoder_config.to_dict(),
        )
        return out

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any]) -> SamConfig:
        """Builds a config from ``to_dict()`` output or a transformers config.json dict.

        Raises:
            ValueError: the dict declares a ``model_type`` other than "sam".
        """
        if not isinstance(config_dict, dict):
            raise TypeError(f"SamConfig.from_dict expects a dict, got {type(config_dict).__name__}")
        model_type = config_dict.get("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ValueError(f"config model_type must be 'sam', got {model_type!r}")
        return cls(**config_dict)

    def to_json_string(self) -> str:
        return json_text(self.to_dict(), sort_keys=True)

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Writes ``config.json`` into ``save_directory`` (created if needed) atomically; returns its path."""
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(os.fspath(save_directory), CONFIG_NAME)
        write_json(path, self.to_dict(), sort_keys=True)
        return path

    @classmethod
    def from_preset(cls, name: str) -> SamConfig:
        """One of ``SAM_PRESETS``: sam-vit-base/large/huge, slimsam-50, slimsam-77."""
        if name not in SAM_PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(SAM_PRESETS)}")
        return cls(**copy.deepcopy(SAM_PRESETS[name]))

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **hub_kwargs: Any) -> SamConfig:
        """Reads a config from a directory, a config.json file, a preset name or a Hub id.

        Args:
            name_or_path: a directory holding config.json, the path of a .json file, a name from
                ``SAM_PRESETS``, or a Hub id such as "facebook/sam-vit-base" (needs huggingface_hub).
            **hub_kwargs: passed to ``huggingface_hub.hf_hub_download`` for Hub ids.
        """
        name = os.fspath(name_or_path)
        if os.path.isfile(name) and name.endswith(".json"):
            path = name
        elif not os.path.isdir(name) and name in SAM_PRESETS:
            return cls.from_preset(name)
        else:
            path = resolve_file(name, CONFIG_NAME, **hub_kwargs)
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SamConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (
            f"SamConfig(vision_config={self.vision_config!r}, prompt_encoder_config={self.prompt_encoder_config!r}, "
            f"mask_decoder_config={self.mask_decoder_config!r}, initializer_range={self.initializer_range!r})"
        )
