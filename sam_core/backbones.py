"""Looking up a vision backbone's entry in a registry keyed by the vision config's ``model_type``.

Three registries use it: each backend's encoder classes (``sam_torch/backbones.py``, ``sam_tf/backbones.py``) and
the weight shapes (``sam_core/state_shapes.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def registered(registry: Mapping[str, T], vision_config: Any, what: str) -> T:
    """The entry of ``registry`` for ``vision_config.model_type``.

    Args:
        registry: model_type -> entry.
        vision_config: a vision config (``SamVisionConfig`` or a backbone's own).
        what: what the registry holds, for the message (e.g. "vision encoder").

    Raises:
        ValueError: naming the unknown ``model_type`` and the registered ones.
    """
    model_type = getattr(vision_config, "model_type", None)
    if model_type not in registry:
        raise ValueError(
            f"vision_config.model_type {model_type!r} has no registered {what}; known: {', '.join(sorted(registry))}"
        )
    return registry[model_type]
