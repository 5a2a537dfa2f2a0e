"""``dualsam info MODEL``: what a SAM checkpoint holds, without building a model.

Prints the architecture (vision encoder width / depth / heads / global-attention layers, prompt encoder and mask
decoder dimensions), the parameter count (trainable tensors: the Fourier matrix buffer is not counted, so the count
equals ``sum(p.numel() for p in SamModel.parameters())``), the weights' dtypes, the checkpoint formats found
(safetensors, bin, sharded, tf_model.h5, Meta .pth) and the file sizes. ``--json`` prints the same as JSON.

The checkpoint is read with the converter's readers (safetensors and h5 need no framework; .bin / .pth need torch).
Importing this module imports no framework.
"""

from __future__ import annotations

import argparse
import json
import os

from .cli_common import EXIT_OK, CliError, add_config_argument
from .models import BUFFER_SUFFIXES, MODEL_HELP, CheckpointContents

DESCRIPTION = "Summarize a SAM checkpoint: architecture, parameter count, checkpoint formats and file sizes."
_DIRECTORY_FORMATS = {
    "model.safetensors": "safetensors",
    "model.safetensors.index.json": "safetensors (sharded)",
    "pytorch_model.bin": "bin",
    "pytorch_model.bin.index.json": "bin (sharded)",
    "tf_model.h5": "tf_model.h5",
}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The info arguments."""
    parser.add_argument(
        "model", metavar="MODEL", nargs="?",
        help=f"a model directory, Hub id or weight file (default: the bundled model); {MODEL_HELP}",
    )  # fmt: skip
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def parameter_count(state: dict) -> int:
    """Elements of the trainable tensors of a canonical state (buffers such as the Fourier matrix excluded)."""
    return int(sum(value.size for key, value in state.items() if not key.endswith(BUFFER_SUFFIXES)))


def checkpoint_formats(contents: CheckpointContents) -> list[str]:
    """The weight formats present: every known file of a directory, or the single file's own format."""
    if not os.path.isdir(contents.path):
        return [contents.format]
    found = []
    for name, label in _DIRECTORY_FORMATS.items():
        path = os.path.join(contents.path, name)
        if os.path.isfile(path):
            if name.endswith(".index.json"):
                from sam_core.weights import sharded_files

                label = f"{label[:-1]}, {len(sharded_files(path))} shards)"
            found.append(label)
    found += [f"Meta-style .pth ({n})" for n in sorted(os.listdir(contents.path)) if n.endswith((".pth", ".pt"))]
    return found


def file_sizes(path: str) -> dict[str, int]:
    """File name -> bytes (a single file, or every visible file of a directory; links are followed)."""
    if not os.path.isdir(path):
        return {os.path.basename(path): os.path.getsize(path)}
    names = sorted(n for n in os.listdir(path) if not n.startswith(".") and os.path.isfile(os.path.join(path, n)))
    return {name: os.path.getsize(os.path.join(path, name)) for name in names}


def summary(spec: str, contents: CheckpointContents) -> dict:
    """The info report as a JSON-ready dict."""
    vision = contents.config.vision_config
    prompt = contents.config.prompt_encoder_config
    decoder = contents.config.mask_decoder_config
    sizes = file_sizes(contents.path)
    return {
        "model": spec,
        "path": os.path.abspath(contents.path),
        "config": contents.config_origin,
        "vision_encoder": {
            "hidden_size": vision.hidden_size, "num_hidden_layers": vision.num_hidden_layers,
            "num_attention_heads": vision.num_attention_heads, "global_attn_indexes": vision.global_attn_indexes,
            "window_size": vision.window_size, "mlp_dim": vision.mlp_dim, "patch_size": vision.patch_size,
            "image_size": vision.image_size, "output_channels": vision.output_channels,
        },
        "prompt_encoder": {"hidden_size": prompt.hidden_size, "mask_input_channels": prompt.mask_input_channels},
        "mask_decoder": {
            "hidden_size": decoder.hidden_size, "mlp_dim": decoder.mlp_dim,
            "num_hidden_layers": decoder.num_hidden_layers,
            "num_attention_heads": decoder.num_attention_heads, "num_multimask_outputs": decoder.num_multimask_outputs,
            "iou_head_depth": decoder.iou_head_depth, "iou_head_hidden_dim": decoder.iou_head_hidden_dim,
        },
        "parameters": parameter_count(contents.state),
        "tensors": len(contents.state),
        "dtypes": sorted({str(v.dtype) for v in contents.state.values()}),
        "formats": checkpoint_formats(contents),
        "files": sizes,
        "total_bytes": sum(sizes.values()),
        "notes": contents.notes,
    }  # fmt: skip


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError


def _section(values: dict) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in values.items())


def render_text(report: dict) -> str:
    """The human-readable report."""
    lines = [
        f"model:           {report['model']} ({report['path']})",
        f"config:          {report['config']}",
        f"vision encoder:  {_section(report['vision_encoder'])}",
        f"prompt encoder:  {_section(report['prompt_encoder'])}",
        f"mask decoder:    {_section(report['mask_decoder'])}",
        f"parameters:      {report['parameters']:,} ({report['parameters'] / 1e6:.1f}M) in {report['tensors']} "
        f"tensors, {'/'.join(report['dtypes'])}",
        f"formats:         {', '.join(report['formats']) or 'none'}",
        f"files:           {_size(report['total_bytes'])} in all",
    ]
    lines += [f"  {name:<40} {_size(size):>10}" for name, size in report["files"].items()]
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam info``; returns the exit code (bad input raises CliError)."""
    from .models import ModelError, locate_model, read_checkpoint

    try:
        spec, path = locate_model(args.model)
        report = summary(spec, read_checkpoint(path, args.config))
    except ModelError as error:
        raise CliError(str(error)) from error
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    return EXIT_OK
