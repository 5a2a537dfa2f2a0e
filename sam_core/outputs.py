"""Model output containers shared by both backends.

The container follows the transformers ``ModelOutput`` conventions that SAM users rely on: attribute access,
key access, integer indexing over the fields that are set, and ``to_tuple()``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


class _FieldsOutput:
    """Mixin: tuple- and dict-like access over the dataclass fields that are not None."""

    def to_tuple(self) -> tuple[Any, ...]:
        """Returns the fields that are set, in declaration order."""
        return tuple(getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self):
        return iter(self.to_tuple())

    def __len__(self) -> int:
        return len(self.to_tuple())


@dataclass
class SamImageSegmentationOutput(_FieldsOutput):
    """What ``SamModel`` and ``TFSamModel`` return.

    Shape legend: B images, P prompts per image, K masks per prompt (3, or 1 without multimask),
    L vision layers.

    Attributes:
        iou_scores: (B, P, K) predicted mask quality.
        pred_masks: (B, P, K, 256, 256) low-resolution mask logits.
        vision_hidden_states: L+1 tensors (B, 64, 64, hidden) when output_hidden_states is set: the patch
            embeddings plus the output of every vision layer.
        vision_attentions: L tensors (B*heads*windows, T, T) of softmax weights when output_attentions is set.
        mask_decoder_attentions: one tensor per two-way block when output_attentions is set: the
            image-to-token cross-attention output (B, P, HW, C), as transformers records it.
    """

    iou_scores: Any = None
    pred_masks: Any = None
    vision_hidden_states: tuple[Any, ...] | None = None
    vision_attentions: tuple[Any, ...] | None = None
    mask_decoder_attentions: tuple[Any, ...] | None = None
