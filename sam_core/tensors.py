"""The one place where numpy arrays become torch / TensorFlow tensors and back.

Frameworks are imported lazily, inside the functions that need them, so importing this module (or sam_core)
never imports torch or tensorflow. Array kinds are detected from ``type(x).__module__``, which needs no import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

ArrayKind = Literal["np", "pt", "tf"]

_VALID_RETURN_TENSORS = (None, "np", "pt", "tf")


def array_kind(x: Any) -> ArrayKind:
    """Tells which framework an array-like belongs to, without importing any framework.

    Args:
        x: a numpy array, torch tensor, TensorFlow tensor / Variable, Keras variable, or anything else.

    Returns:
        "pt" for torch objects, "tf" for TensorFlow and Keras objects, "np" for everything else
        (numpy arrays, lists, scalars).
    """
    root = type(x).__module__.split(".", 1)[0]
    if root == "torch":
        return "pt"
    if root in ("tensorflow", "tf_keras", "keras"):
        return "tf"
    return "np"


def to_numpy(x: Any) -> np.ndarray:
    """Converts numpy arrays, nested lists, torch tensors (any device, with or without grad) and TensorFlow
    tensors or variables to a numpy array on the host.

    bfloat16 tensors become float32, since numpy has no bfloat16.
    """
    kind = array_kind(x)
    if kind == "pt":
        tensor = x.detach()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()
        return tensor.cpu().numpy()
    if kind == "tf":
        if str(getattr(x, "dtype", "")).endswith("bfloat16"):
            return np.asarray(x).astype(np.float32)
        return x.numpy() if hasattr(x, "numpy") else np.asarray(x)
    return np.asarray(x)


def normalize_return_tensors(return_tensors: Any) -> str | None:
    """Returns None, "np", "pt" or "tf"; accepts transformers' ``TensorType`` enum members too.

    Raises:
        ValueError: naming ``return_tensors`` for any other value.
    """
    value = getattr(return_tensors, "value", return_tensors)
    if value not in _VALID_RETURN_TENSORS:
        raise ValueError(f"return_tensors must be None, 'np', 'pt' or 'tf', got {return_tensors!r}")
    return value


def to_framework(arr: np.ndarray, return_tensors: Any) -> Any:
    """Converts a numpy array to the requested kind.

    Args:
        arr: the array.
        return_tensors: None or "np" (numpy, unchanged), "pt" (torch.Tensor on the CPU) or "tf" (tf.Tensor).

    Raises:
        ValueError: naming ``return_tensors`` for anything else.
    """
    kind = normalize_return_tensors(return_tensors)
    if kind in (None, "np"):
        return arr
    arr = np.ascontiguousarray(arr)
    if kind == "pt":
        import torch

        return torch.from_numpy(arr)
    import tensorflow as tf

    return tf.convert_to_tensor(arr)


def to_framework_like(arr: np.ndarray, reference: Any) -> Any:
    """Converts ``arr`` to the kind of ``reference``; torch results go to ``reference``'s device."""
    kind = array_kind(reference)
    out = to_framework(arr, kind)
    device = getattr(reference, "device", None)
    if kind == "pt" and device is not None and str(device) != "cpu":
        out = out.to(device)
    return out


def _is_torch_dtype(value: Any) -> bool:
    return type(value).__module__ == "torch" and type(value).__name__ == "dtype"


class BatchFeature(dict):
    """The processors' output: a dict that also allows attribute access (``inputs.pixel_values``) and can move
    its torch tensors with ``.to(device)``, so ``processor(...).to(device)`` works as in transformers.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __dir__(self) -> Iterator[str]:
        return list(super().__dir__()) + list(self.keys())

    def to(self, *args: Any, **kwargs: Any) -> BatchFeature:
        """Calls ``tensor.to(*args, **kwargs)`` on every torch tensor and returns self.

        A dtype argument (``.to(torch.float16)``) only casts floating-point tensors, so integer sizes and labels
        keep their dtype. numpy and TensorFlow values are left as they are.
        """
        casts_dtype = any(_is_torch_dtype(a) for a in args) or _is_torch_dtype(kwargs.get("dtype"))
        for key, value in list(self.items()):
            if array_kind(value) != "pt":
                continue
            if casts_dtype and not value.is_floating_point():
                device_args = [a for a in args if not _is_torch_dtype(a)]
                device_kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
                self[key] = value.to(*device_args, **device_kwargs) if device_args or device_kwargs else value
            else:
                self[key] = value.to(*args, **kwargs)
        return self

    def convert_to_tensors(self, return_tensors: Any) -> BatchFeature:
        """Converts every numpy value to ``return_tensors`` in place and returns self."""
        kind = normalize_return_tensors(return_tensors)
        if kind not in (None, "np"):
            for key, value in list(self.items()):
                if isinstance(value, np.ndarray):
                    self[key] = to_framework(value, kind)
        return self
