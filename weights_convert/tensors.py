"""Per-tensor checks and casts: tied copies, finiteness, and the output dtype."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from sam_core.weights import TIED_KEYS

from .errors import ConvertError

DTYPES = ("float32", "float16", "bfloat16")


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype for a --dtype name (bfloat16 through ml_dtypes)."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError as error:
            raise ConvertError("--dtype bfloat16 needs the ml_dtypes package (pip install ml_dtypes)") from error
        return np.dtype(ml_dtypes.bfloat16)
    if name not in DTYPES:
        raise ConvertError(f"--dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return np.dtype(name)


def check_tied(state: Mapping[str, np.ndarray]) -> None:
    """Tied copies (sam_core.weights.TIED_KEYS) must hold the same values as their source.

    Raises:
        ConvertError: naming the pair that differs.
    """
    for copy, source in TIED_KEYS.items():
        if copy in state and source in state and not np.array_equal(state[copy], state[source], equal_nan=True):
            raise ConvertError(f"{copy} must equal its tied source {source}, but the checkpoint holds different values")


def is_float(dtype: np.dtype) -> bool:
    """numpy floats and ml_dtypes' bfloat16 (which numpy does not count as floating)."""
    return np.issubdtype(dtype, np.floating) or dtype.name == "bfloat16"


def non_finite(state: Mapping[str, np.ndarray]) -> list[str]:
    """Keys whose tensors hold NaN or inf."""
    return [
        k for k, v in state.items() if is_float(v.dtype) and not np.isfinite(v.astype(np.float32, copy=False)).all()
    ]  # fmt: skip


def cast_all(
    state: Mapping[str, np.ndarray], dtype: np.dtype, step: Callable[[], None] = lambda: None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Casts every tensor to ``dtype`` (round to nearest even); returns the cast state and the keys that overflowed.

    Args:
        state: canonical tensors (any float dtype).
        dtype: the output dtype.
        step: called once per tensor (progress).
    """
    out: dict[str, np.ndarray] = {}
    overflowed: list[str] = []
    for key, value in state.items():
        if not is_float(value.dtype):
            raise ConvertError(f"{key} has dtype {value.dtype}; SAM weights are floating point")
        with np.errstate(over="ignore"):  # overflow is reported below, by key
            cast = value.astype(dtype, copy=False)
        if cast.dtype != value.dtype and np.isfinite(value.astype(np.float32)).all():
            if not np.isfinite(cast.astype(np.float32)).all():
                overflowed.append(key)
        out[key] = cast
        step()
    return out, overflowed


def as_float32(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor as float32 (exact for float16 and bfloat16)."""
    return {k: v.astype(np.float32, copy=False) for k, v in state.items()}
