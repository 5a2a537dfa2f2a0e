"""The keyword arguments ``from_pretrained`` takes in both backends, checked once: Hub options and the dtype."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keyword arguments passed through to the Hugging Face Hub download.
HUB_KWARGS = frozenset(
    {"revision", "token", "cache_dir", "local_files_only", "force_download", "subfolder", "proxies", "user_agent"}
)
#: dtype names a model can be loaded in ("auto": the checkpoint's float dtype).
DTYPES = ("float32", "float16", "bfloat16")
_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "float": "float32"}


def hub_kwargs(kwargs: Mapping[str, Any], method: str) -> dict[str, Any]:
    """The Hub options of ``kwargs``; anything else is a TypeError naming it.

    Args:
        kwargs: the remaining keyword arguments of ``method``.
        method: e.g. "SamModel.from_pretrained", for the message.
    """
    unknown = sorted(set(kwargs) - HUB_KWARGS)
    if unknown:
        raise TypeError(
            f"{method}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; it takes config, dtype "
            f"and the Hub options {', '.join(sorted(HUB_KWARGS))}"
        )
    return dict(kwargs)


def dtype_name(dtype: Any, argument: str = "dtype") -> str | None:
    """A dtype given as a string ("bfloat16", "bf16", "auto"), a torch / numpy / Keras dtype -> "float32",
    "float16", "bfloat16", "auto" or None (not given).

    Raises:
        ValueError: naming ``argument``, for any other dtype.
    """
    if dtype is None:
        return None
    name = getattr(dtype, "name", None) if not isinstance(dtype, str) else dtype
    name = str(name if name is not None else dtype).lower().removeprefix("torch.")
    name = _ALIASES.get(name, name)
    if name == "auto" or name in DTYPES:
        return name
    raise ValueError(f"{argument} must be one of {', '.join(DTYPES)} or 'auto', got {dtype!r}")


def stored_float_dtype(dtypes: list[str]) -> str:
    """"auto": the float dtype a checkpoint stores its weights in (the most common one), float32 if none."""
    floats = [name for name in dtypes if name in DTYPES]
    return max(set(floats), key=floats.count) if floats else "float32"


def read_for_from_pretrained(
    method: str, name_or_path: Any, config: Any, dtype: Any, kwargs: Mapping[str, Any]
) -> tuple[Any, str | None]:
    """What both backends' ``from_pretrained`` do first: check the keyword arguments and the dtype, then read the
    checkpoint through the one reader.

    Args:
        method: e.g. "SamModel.from_pretrained", for messages.
        name_or_path: a directory, weight file or Hub id.
        config: a SamConfig, preset name or config.json overriding the checkpoint's, or None.
        dtype: a dtype in any spelling ``dtype_name`` takes, or None.
        kwargs: the other keyword arguments (Hub options only).

    Returns:
        (the CheckpointContents, the dtype name: "float32", "float16", "bfloat16", or None when not given); "auto"
        is resolved to the checkpoint's stored float dtype.

    Raises:
        TypeError: unknown keyword arguments, by name.
        ValueError: an unknown dtype.
        sam_core.weights.CheckpointError: an unreadable checkpoint.
    """
    from .checkpoint import read_checkpoint

    options = hub_kwargs(kwargs, method)
    name = dtype_name(dtype)
    contents = read_checkpoint(name_or_path, config, **options)
    if name == "auto":
        name = stored_float_dtype([value.dtype.name for value in contents.state.values()])
    return contents, name
