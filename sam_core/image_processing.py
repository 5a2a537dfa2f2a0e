"""SamImageProcessor: images -> (B, 3, 1024, 1024) model inputs, and low-resolution mask logits -> full-size masks.

Numerics follow transformers' SamImageProcessor: longest-edge resize with ``new = int(old * scale + 0.5)`` done by
PIL (BILINEAR) on uint8 pixels, rescale by 1/255 (float64, then float32), ImageNet normalization in float32, zero
padding at the bottom/right. Masks are upscaled with torch-style bilinear interpolation (align_corners=False)
implemented in numpy as interpolation matrices, so results come back as numpy, torch or tf without importing a
framework here.

Shape legend: B images, P prompts per image, K masks per prompt, H x W original image size.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import PIL.Image

from .atomic import write_json
from .config import SAM_PRESETS
from .hub import resolve_file
from .image_transforms import (
    flat_images,
    image_to_hwc3,
    pad_bottom_right,
    pil_resize,
    preprocess_shape,
    upscale_masks,
)
from .mask_generation_methods import MaskGenerationMethods
from .tensors import BatchFeature, normalize_return_tensors, to_framework, to_framework_like, to_numpy
from .validation import check_batch_size, check_image_dtype, check_image_object, image_layout

IMAGE_PROCESSOR_NAME = "preprocessor_config.json"
IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406]
IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225]
_CONFIG_FIELDS = (
    "do_resize", "size", "mask_size", "resample", "do_rescale", "rescale_factor", "do_normalize", "image_mean",
    "image_std", "do_pad", "pad_size", "mask_pad_size", "do_convert_rgb",
)  # fmt: skip
_DROPPED_KEYS = ("image_processor_type", "processor_class", "_processor_class", "feature_extractor_type")
_LAYOUTS = {"channels_first": "chw", "channels_last": "hwc", "none": "hw", None: None}


def _size_dict(value: Any, *, square: bool) -> dict[str, int]:
    """{"longest_edge": n} (``square`` False) or {"height": h, "width": w} from a dict or an int."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return {"height": int(value), "width": int(value)} if square else {"longest_edge": int(value)}
    raise ValueError(f"size must be a dict or an int, got {value!r}")


def _in_hwc(transform: Any, image: Any, data_format: str | None, input_data_format: str | None) -> np.ndarray:
    """Applies ``transform`` to the image as (H, W[, C]) and returns it in the input's (or the requested) layout."""
    array = to_numpy(image)
    layout = _LAYOUTS[input_data_format] or image_layout(array.shape, name="image")
    out = transform(np.moveaxis(array, 0, -1) if layout == "chw" else array)
    out_layout = _LAYOUTS[data_format] or layout
    return np.moveaxis(out, -1, 0) if out_layout == "chw" and out.ndim == 3 else out


def _opt(value: Any, default: Any) -> Any:
    """``value`` unless it is None (a per-call override of a constructor setting)."""
    return default if value is None else value


def _channel_stats(value: Any, *, name: str) -> np.ndarray:
    """A float or 3 floats -> (3,) float64 per-channel statistics."""
    stats = np.asarray(value, dtype=np.float64).reshape(-1)
    if stats.size not in (1, 3):
        raise ValueError(f"{name} must be a float or 3 floats (one per RGB channel), got {value!r}")
    return np.broadcast_to(stats, (3,))


def _stack_or_list(arrays: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    return np.stack(arrays) if all(a.shape == arrays[0].shape for a in arrays) else arrays


class SamImageProcessor(MaskGenerationMethods):
    """Prepares images (and segmentation maps) for SAM and post-processes its masks.

    Args mirror transformers' SamImageProcessor; every one can be overridden per call of ``preprocess``.

    Args:
        do_resize: resize so that the longest edge is ``size["longest_edge"]``.
        size: {"longest_edge": 1024} (an int is accepted).
        mask_size: {"longest_edge": 256}, the segmentation-map resize.
        resample: PIL resampling filter for images (BILINEAR); maps always use NEAREST.
        do_rescale: multiply pixels by ``rescale_factor``.
        rescale_factor: 1/255.
        do_normalize: subtract ``image_mean`` and divide by ``image_std`` per channel.
        image_mean: ImageNet mean by default.
        image_std: ImageNet std by default.
        do_pad: zero-pad at the bottom/right to ``pad_size`` (maps to ``mask_pad_size``).
        pad_size: {"height": 1024, "width": 1024} (an int is accepted).
        mask_pad_size: {"height": 256, "width": 256}.
        do_convert_rgb: convert PIL images of other modes with PIL's RGB conversion.
        **kwargs: other keys (e.g. from a preprocessor_config.json); kept in ``extra`` and written back.
    """

    def __init__(
        self,
        do_resize: bool = True,
        size: dict[str, int] | int | None = None,
        mask_size: dict[str, int] | int | None = None,
        resample: int = PIL.Image.Resampling.BILINEAR,
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean: float | list[float] | None = None,
        image_std: float | list[float] | None = None,
        do_pad: bool = True,
        pad_size: dict[str, int] | int | None = None,
        mask_pad_size: dict[str, int] | int | None = None,
        do_convert_rgb: bool = True,
        **kwargs: Any,
    ) -> None:
        self.do_resize = do_resize
        self.size = _size_dict(1024 if size is None else size, square=False)
        self.mask_size = _size_dict(256 if mask_size is None else mask_size, square=False)
        self.resample = int(resample)
        self.do_rescale = do_rescale
        self.rescale_factor = rescale_factor
        self.do_normalize = do_normalize
        self.image_mean = list(IMAGENET_DEFAULT_MEAN) if image_mean is None else image_mean
        self.image_std = list(IMAGENET_DEFAULT_STD) if image_std is None else image_std
        self.do_pad = do_pad
        self.pad_size = _size_dict(1024 if pad_size is None else pad_size, square=True)
        self.mask_pad_size = _size_dict(256 if mask_pad_size is None else mask_pad_size, square=True)
        self.do_convert_rgb = do_convert_rgb
        self.extra = {k: v for k, v in kwargs.items() if k not in _DROPPED_KEYS}

    # ----------------------------------------------------------------------------------------- single images
    def resize(
        self,
        image: np.ndarray,
        size: dict[str, int] | int,
        resample: int | None = None,
        data_format: str | None = None,
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Resizes an image array so that its longest edge is ``size["longest_edge"]`` (PIL, on uint8 pixels).

        The output keeps the input's channel layout unless ``data_format`` ("channels_first"/"channels_last")
        says otherwise.
        """
        longest = _size_dict(size, square=False).get("longest_edge")
        if longest is None:
            raise ValueError(f"size must contain 'longest_edge', got {size!r}")
        resample = self.resample if resample is None else resample
        return _in_hwc(
            lambda hwc: pil_resize(hwc, preprocess_shape(hwc.shape[:2], longest), resample, name="image"),
            image, data_format, input_data_format,
        )  # fmt: skip

    def pad_image(
        self,
        image: np.ndarray,
        pad_size: dict[str, int] | int,
        data_format: str | None = None,
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Zero-pads an image array to (pad_size["height"], pad_size["width"]) at the bottom and right."""
        target = _size_dict(pad_size, square=True)
        return _in_hwc(
            lambda hwc: pad_bottom_right(hwc, (target["height"], target["width"]), name="pad_size"),
            image, data_format, input_data_format,
        )  # fmt: skip

    # ----------------------------------------------------------------------------------------- batches
    def __call__(self, images: Any, segmentation_maps: Any = None, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, segmentation_maps=segmentation_maps, **kwargs)

    def preprocess(
        self,
        images: Any,
        segmentation_maps: Any = None,
        do_resize: bool | None = None,
        size: dict[str, int] | int | None = None,
        mask_size: dict[str, int] | int | None = None,
        resample: int | None = None,
        do_rescale: bool | None = None,
        rescale_factor: float | None = None,
        do_normalize: bool | None = None,
        image_mean: float | list[float] | None = None,
        image_std: float | list[float] | None = None,
        do_pad: bool | None = None,
        pad_size: dict[str, int] | int | None = None,
        mask_pad_size: dict[str, int] | int | None = None,
        do_convert_rgb: bool | None = None,
        return_tensors: str | None = None,
        data_format: str = "channels_first",
        input_data_format: str | None = None,
    ) -> BatchFeature:
        """Resizes, rescales, normalizes and pads a batch of images (and resizes/pads segmentation maps).

        Args:
            images: one image or a list of images (PIL in any mode, numpy / torch / tf arrays (H, W), (H, W, C)
                or (C, H, W) with C in 1, 3, 4, uint8 or float), or a (B, ...) array; sizes may differ.
            segmentation_maps: one (H, W) map per image (PIL or integer array) with the image's size.
            return_tensors: None / "np" (numpy), "pt" or "tf". With None, arrays of unequal shapes (no padding)
                stay lists.
            data_format: "channels_first" (default) or "channels_last" for pixel_values.
            input_data_format: the images' layout when inference is ambiguous.
            Other arguments override the constructor's values for this call.

        Returns:
            BatchFeature with pixel_values (B, 3, 1024, 1024) float32, original_sizes (B, 2) int64 (h, w),
            reshaped_input_sizes (B, 2) int64, and labels (B, 256, 256) int64 when maps were given.
        """
        size = _size_dict(_opt(size, self.size), square=False)
        pad = _size_dict(_opt(pad_size, self.pad_size), square=True)
        resample = _opt(resample, self.resample)
        do_resize, do_rescale = _opt(do_resize, self.do_resize), _opt(do_rescale, self.do_rescale)
        do_normalize, do_pad = _opt(do_normalize, self.do_normalize), _opt(do_pad, self.do_pad)
        rescale_factor = _opt(rescale_factor, self.rescale_factor)
        mean = _channel_stats(_opt(image_mean, self.image_mean), name="image_mean")
        std = _channel_stats(_opt(image_std, self.image_std), name="image_std")
        input_layout = _LAYOUTS[input_data_format]
        flat = flat_images(images, name="images")
        pixel_values, original_sizes, reshaped_sizes = [], [], []
        for index, image in enumerate(flat):
            name = f"images[{index}]" if len(flat) > 1 else "images"
            array = image_to_hwc3(image, do_convert_rgb=_opt(do_convert_rgb, self.do_convert_rgb),
                                   input_layout=input_layout, name=name)  # fmt: skip
            original_sizes.append(array.shape[:2])
            if do_resize:
                array = pil_resize(array, preprocess_shape(array.shape[:2], size["longest_edge"]), resample, name=name)
            reshaped_sizes.append(array.shape[:2])
            if do_rescale:
                array = (array.astype(np.float64) * rescale_factor).astype(np.float32)
            if do_normalize:
                array = array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float32)
                array = (array - mean.astype(array.dtype)) / std.astype(array.dtype)
            if do_pad:
                array = pad_bottom_right(array, (pad["height"], pad["width"]), name="pad_size")
            array = array.astype(np.float32)
            pixel_values.append(np.moveaxis(array, -1, 0) if data_format == "channels_first" else array)
        data = BatchFeature(
            pixel_values=_stack_or_list(pixel_values),
            original_sizes=np.asarray(original_sizes, dtype=np.int64),
            reshaped_input_sizes=np.asarray(reshaped_sizes, dtype=np.int64),
        )
        if segmentation_maps is not None:
            maps = flat_images(segmentation_maps, name="segmentation_maps", item_ndim=2)
            check_batch_size("segmentation_maps", len(maps), len(flat))
            mask_size = _size_dict(_opt(mask_size, self.mask_size), square=False)
            mask_pad = _size_dict(_opt(mask_pad_size, self.mask_pad_size), square=True) if do_pad else None
            data["labels"] = _stack_or_list([
                self._preprocess_map(m, original_sizes[i], mask_size if do_resize else None, mask_pad, index=i)
                for i, m in enumerate(maps)
            ])  # fmt: skip
        if normalize_return_tensors(return_tensors) is not None and any(isinstance(v, list) for v in data.values()):
            raise ValueError("return_tensors needs equally shaped images; pass do_pad=True or return_tensors=None")
        return data.convert_to_tensors(return_tensors)

    def _preprocess_map(
        self, seg_map: Any, image_size: tuple[int, int], mask_size: dict[str, int] | None,
        mask_pad: dict[str, int] | None, *, index: int,
    ) -> np.ndarray:  # fmt: skip
        """One (H, W) label map -> NEAREST-resized, zero-padded (256, 256) int64 array."""
        name = f"segmentation_maps[{index}]"
        check_image_object(seg_map, name=name)
        array = np.asarray(seg_map) if isinstance(seg_map, PIL.Image.Image) else to_numpy(seg_map)
        check_image_dtype(array, name=name)
        if array.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (H, W) label map, got shape {array.shape}")
        if tuple(array.shape) != tuple(image_size):
            raise ValueError(f"{name} has size {array.shape} but its image has size {tuple(image_size)}")
        if np.issubdtype(array.dtype, np.floating) and not np.allclose(array, np.round(array)):
            raise ValueError(f"{name} must hold integer class labels, got non-integral values")
        labels = np.round(array).astype(np.int64) if np.issubdtype(array.dtype, np.floating) else array.astype(np.int64)
        if mask_size is not None:
            out_h, out_w = preprocess_shape(labels.shape, mask_size["longest_edge"])
            fits_uint8 = labels.min() >= 0 and labels.max() <= 255
            image = PIL.Image.fromarray(labels.astype(np.uint8 if fits_uint8 else np.int32))
            labels = np.asarray(image.resize((out_w, out_h), resample=PIL.Image.Resampling.NEAREST)).astype(np.int64)
        if mask_pad is not None:
            labels = pad_bottom_right(labels, (mask_pad["height"], mask_pad["width"]), name="mask_pad_size")
        return labels

    # ----------------------------------------------------------------------------------------- masks
    def post_process_masks(
        self,
        masks: Any,
        original_sizes: Any,
        reshaped_input_sizes: Any,
        mask_threshold: float = 0.0,
        binarize: bool = True,
        pad_size: dict[str, int] | int | None = None,
        return_tensors: str | None = None,
    ) -> list[Any]:
        """Upscales low-resolution mask logits to each image's original size.

        Per image: bilinear (align_corners=False) to ``pad_size``, crop to the reshaped size, bilinear to the
        original size, then ``> mask_threshold`` if ``binarize``. Computed in numpy (float32).

        Args:
            masks: (B, P, K, h, w) logits (numpy, torch or tf), or a list of B (P, K, h, w) arrays.
            original_sizes: (B, 2) (h, w) of the images, any array kind or list.
            reshaped_input_sizes: (B, 2) (h, w) after the longest-edge resize.
            mask_threshold: logit threshold for binarizing.
            binarize: return boolean masks (True) or float32 logits (False).
            pad_size: the padded model input size; defaults to this processor's ``pad_size``.
            return_tensors: None (the kind of ``masks``: numpy, torch on the masks' device, or tf), or
                "np" / "pt" / "tf".

        Returns:
            A list of B arrays (P, K, H_b, W_b): bool when binarizing, else float32.
        """
        per_image = list(masks) if isinstance(masks, (list, tuple)) else None
        reference = per_image[0] if per_image else masks
        per_image = per_image if per_image is not None else list(to_numpy(masks))
        kind = normalize_return_tensors(return_tensors)
        pad = _size_dict(self.pad_size if pad_size is None else pad_size, square=True)
        originals = np.asarray(to_numpy(original_sizes), dtype=np.int64).reshape(-1, 2)
        reshaped = np.asarray(to_numpy(reshaped_input_sizes), dtype=np.int64).reshape(-1, 2)
        check_batch_size("original_sizes", len(originals), len(per_image))
        check_batch_size("reshaped_input_sizes", len(reshaped), len(per_image))
        outputs = []
        for index, item in enumerate(per_image):
            logits = to_numpy(item).astype(np.float32)
            if logits.ndim != 4:
                raise ValueError(f"masks[{index}] must be (prompts, masks, height, width), got shape {logits.shape}")
            up = upscale_masks(logits, originals[index], reshaped[index], (pad["height"], pad["width"]))
            result = up > mask_threshold if binarize else up
            outputs.append(to_framework_like(result, reference) if kind is None else to_framework(result, kind))
        return outputs

    # ----------------------------------------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        """The transformers preprocessor_config.json content."""
        out = dict(self.extra)
        out.update({name: getattr(self, name) for name in _CONFIG_FIELDS})
        out.update(image_processor_type="SamImageProcessor", processor_class="SamProcessor")
        return out

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **overrides: Any) -> SamImageProcessor:
        return cls(**{**config_dict, **overrides})

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Writes preprocessor_config.json into ``save_directory`` (created if needed) atomically."""
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(os.fspath(save_directory), IMAGE_PROCESSOR_NAME)
        write_json(path, self.to_dict(), sort_keys=True)
        return path

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> SamImageProcessor:
        """Reads preprocessor_config.json from a directory or Hub id; a preset name gives the defaults.

        Keyword arguments that are constructor arguments override the file; the rest go to
        ``huggingface_hub.hf_hub_download``.
        """
        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in _CONFIG_FIELDS}
        name = os.fspath(name_or_path)
        if not os.path.isdir(name) and name in SAM_PRESETS:
            return cls(**overrides)
        with open(resolve_file(name, IMAGE_PROCESSOR_NAME, **kwargs), encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle), **overrides)

    def __repr__(self) -> str:
        return f"SamImageProcessor({json.dumps(self.to_dict(), sort_keys=True)})"
