"""The SAM architecture from tensor shapes (canonical names), and what the shapes leave open.

Determined by shapes: the vision width, depth, MLP width, patch size, neck width, absolute-position grid (hence the
image size), qkv bias, the Fourier features, and, through the decomposed relative-position tables
``rel_pos_h: (2 * side - 1, head_dim)``, the head width (hence the number of heads) and each layer's attention span:
a table as long as the embedding grid marks a global-attention layer, a shorter one gives the window size. The prompt
encoder and mask decoder widths, depths, token counts and IoU head follow from their matrices.

Not determined: the mask decoder's number of heads (its q/k/v projections are full-width matrices split into heads
only at run time), the vision heads when there are no relative positions, and non-shape settings (activations,
layer-norm epsilons). These are taken from the presets when every preset that agrees with the shapes agrees on them
(all SAM and SlimSAM checkpoints use 8 decoder heads); otherwise the converter asks for ``--config``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..config import SAM_PRESETS, SamConfig
from ..weights import CheckpointError

Shapes = Mapping[str, tuple[int, ...]]
_V, _P, _D = "vision_encoder", "prompt_encoder", "mask_decoder"
#: Per section: fields the shapes cannot tell, filled from agreeing presets.
UNDETERMINED = {
    "mask_decoder_config": ("num_attention_heads",),
    "vision_config": ("num_attention_heads", "image_size"),
}


def _count(shapes: Shapes, prefix: str) -> int:
    """How many numbered children ``prefix.N.`` exist."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    return len({m.group(1) for m in map(pattern.match, shapes) if m})


def _shape(shapes: Shapes, key: str) -> tuple[int, ...]:
    if key not in shapes:
        raise CheckpointError(f"cannot infer the architecture: the checkpoint has no {key}")
    return tuple(shapes[key])


def _attention_spans(shapes: Shapes, depth: int, grid: int | None, hidden: int) -> dict[str, Any]:
    """Heads, window size and global layers from the relative-position tables (empty without them)."""
    tables = [shapes.get(f"{_V}.layers.{i}.attn.rel_pos_h") for i in range(depth)]
    if not any(tables):
        return {"use_rel_pos": False}
    if not all(tables) or len({t[1] for t in tables}) != 1 or any(t[0] % 2 == 0 for t in tables):
        raise CheckpointError("the relative-position tables are inconsistent across layers (missing, odd widths?)")
    head_dim = tables[0][1]
    if hidden % head_dim:
        raise CheckpointError(f"rel_pos head width {head_dim} does not divide the vision width {hidden}")
    spans = [(t[0] + 1) // 2 for t in tables]
    grid = grid if grid is not None else max(spans)
    windows = {s for s in spans if s != grid}
    if len(windows) > 1:
        raise CheckpointError(f"the windowed layers have different window sizes {sorted(windows)}")
    out = {
        "use_rel_pos": True,
        "num_attention_heads": hidden // head_dim,
        "global_attn_indexes": [i for i, s in enumerate(spans) if s == grid],
        "_grid": grid,
    }
    if windows:
        out["window_size"] = windows.pop()
    return out


def vision_fields(shapes: Shapes) -> dict[str, Any]:
    """The vision-config fields that the shapes determine."""
    hidden, channels, patch, _ = _shape(shapes, f"{_V}.patch_embed.projection.weight")
    depth = _count(shapes, f"{_V}.layers")
    if depth == 0:
        raise CheckpointError("cannot infer the architecture: the checkpoint has no vision_encoder.layers")
    fields: dict[str, Any] = {
        "hidden_size": hidden,
        "num_channels": channels,
        "patch_size": patch,
        "num_hidden_layers": depth,
        "mlp_dim": _shape(shapes, f"{_V}.layers.0.mlp.lin1.weight")[0],
        "output_channels": _shape(shapes, f"{_V}.neck.conv1.weight")[0],
        "qkv_bias": f"{_V}.layers.0.attn.qkv.bias" in shapes,
        "num_pos_feats": _shape(shapes, "shared_image_embedding.positional_embedding")[1],
        "use_abs_pos": f"{_V}.pos_embed" in shapes,
    }
    grid = shapes[f"{_V}.pos_embed"][1] if fields["use_abs_pos"] else None
    fields.update(_attention_spans(shapes, depth, grid, hidden))
    grid = fields.pop("_grid", grid)
    if grid is not None:
        fields["image_size"] = grid * patch
    return fields


def prompt_fields(shapes: Shapes) -> dict[str, Any]:
    """The prompt-encoder-config fields that the shapes determine."""
    return {
        "hidden_size": _shape(shapes, f"{_P}.point_embed.0.weight")[1],
        "num_point_embeddings": _count(shapes, f"{_P}.point_embed"),
        "mask_input_channels": _shape(shapes, f"{_P}.mask_embed.conv2.weight")[0],
    }


def decoder_fields(shapes: Shapes) -> dict[str, Any]:
    """The mask-decoder-config fields that the shapes determine."""
    hidden = _shape(shapes, f"{_D}.iou_token.weight")[1]
    internal = _shape(shapes, f"{_D}.transformer.layers.0.cross_attn_token_to_image.q_proj.weight")[0]
    if hidden % internal:
        raise CheckpointError(f"cross-attention width {internal} does not divide the decoder width {hidden}")
    return {
        "hidden_size": hidden,
        "num_hidden_layers": _count(shapes, f"{_D}.transformer.layers"),
        "mlp_dim": _shape(shapes, f"{_D}.transformer.layers.0.mlp.lin1.weight")[0],
        "attention_downsample_rate": hidden // internal,
        "num_multimask_outputs": _shape(shapes, f"{_D}.mask_tokens.weight")[0] - 1,
        "iou_head_hidden_dim": _shape(shapes, f"{_D}.iou_prediction_head.proj_in.weight")[0],
        "iou_head_depth": 2 + _count(shapes, f"{_D}.iou_prediction_head.layers"),
    }


def _fill_from_presets(section: str, fields: dict[str, Any], notes: list[str]) -> None:
    """Fills a section's undetermined fields from the presets whose determined fields agree with ``fields``."""
    open_fields = [name for name in UNDETERMINED.get(section, ()) if name not in fields]
    if not open_fields:
        return
    agreeing = {}
    for name in SAM_PRESETS:
        preset = SamConfig.from_preset(name).to_dict()[section]
        if all(preset.get(k) == v for k, v in fields.items()):
            agreeing[name] = {k: preset[k] for k in open_fields}
    values = {tuple(sorted(v.items())) for v in agreeing.values()}
    if len(values) != 1:
        known = ", ".join(f"{section}.{k}" for k in open_fields)
        why = "no preset has these shapes" if not values else "the presets with these shapes disagree"
        raise CheckpointError(
            f"the tensor shapes do not determine {known} ({why}); pass config= (--config on the command line) "
            "with a preset name or a config.json"
        )
    fields.update(dict(values.pop()))
    chosen = ", ".join(f"{section}.{k}={v}" for k, v in fields.items() if k in open_fields)
    notes.append(f"{chosen}: not in the tensor shapes; taken from the agreeing presets ({', '.join(sorted(agreeing))})")


def infer_config(shapes: Shapes) -> tuple[SamConfig, list[str]]:
    """The SamConfig that the checkpoint's shapes describe.

    Args:
        shapes: canonical key -> shape.

    Returns:
        The config and notes on every value that did not come from the shapes.

    Raises:
        CheckpointError: a needed tensor is missing, the shapes contradict each other, or a value the shapes do not
            determine cannot be settled by the presets.
    """
    notes: list[str] = []
    sections = {
        "vision_config": vision_fields(shapes),
        "prompt_encoder_config": prompt_fields(shapes),
        "mask_decoder_config": decoder_fields(shapes),
    }
    for section, fields in sections.items():
        _fill_from_presets(section, fields, notes)
    sections["prompt_encoder_config"].update(
        image_size=sections["vision_config"]["image_size"], patch_size=sections["vision_config"]["patch_size"]
    )
    try:
        return SamConfig(**sections), notes
    except ValueError as error:
        raise CheckpointError(f"the tensor shapes give an invalid architecture: {error}") from error
