"""Checkpoint formats, framework-free: detect a source from its bytes, read it into canonical names, infer or
resolve its config, and check its keys and shapes against a config (see ``load.read_checkpoint``)."""

from .load import CheckpointContents, read_checkpoint

__all__ = ["CheckpointContents", "read_checkpoint"]
