"""The conversion pipeline: locate and read SRC, settle the architecture, check every key, shape and value, cast,
write the transformers-layout files into a temporary directory next to DST, optionally verify, then publish.

Output directory: config.json, preprocessor_config.json, model.safetensors (``--to torch``), tf_model.h5
(``--to tf``, transformers' TFSamModel h5 layout) and dualsam_manifest.json.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from sam_core import layouts, weights
from sam_core.checkpoint import CheckpointContents, read_checkpoint
from sam_core.checkpoint.resolve import resolve_processor
from sam_core.h5_layout import write_keras_h5
from sam_core.image_processing import SamImageProcessor
from sam_core.state_shapes import expected_shapes

from .errors import ConvertError, VerifyError
from .manifest import file_entries, write_manifest
from .output import check_destination, publish, staging_directory
from .tensors import as_float32, cast_all, check_tied, non_finite, numpy_dtype

#: --to choices and the files each writes.
TARGETS: dict[str, tuple[str, ...]] = {"torch": ("torch",), "tf": ("tf",), "both": ("torch", "tf")}
_STAGES = ("read", "check", "cast", "write", "verify", "publish")  # verify is skipped without --verify


@dataclass
class ConvertOptions:
    """Settings of one conversion (the CLI flags).

    Attributes:
        to: "torch", "tf" or "both".
        config: a preset name or config.json path; None: the source's config.json, else inferred from shapes.
        dtype: "float32", "float16" or "bfloat16".
        verify: run the probe on source-side and destination-side models and fail above tolerance.
        force: replace an existing DST.
        strict: NaN/inf weights are an error instead of a warning.
        progress: show progress bars (None: only on a terminal).
    """

    to: str = "both"
    config: str | None = None
    dtype: str = "float32"
    verify: bool = False
    force: bool = False
    strict: bool = False
    progress: bool | None = None


@dataclass
class ConvertResult:
    """What a conversion produced: the published directory, its manifest, warnings and verify comparisons."""

    dst: str
    manifest: dict
    warnings: list[str] = field(default_factory=list)
    comparisons: list = field(default_factory=list)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class _Prepared:
    """Everything checked and ready to write."""

    source_files: dict
    read: CheckpointContents
    processor: SamImageProcessor
    state: dict[str, np.ndarray]


def convert(
    src: str, dst: str, options: ConvertOptions | None = None, log: Callable[[str], None] = _stderr
) -> ConvertResult:
    """Converts the SAM checkpoint at ``src`` into a transformers-layout directory ``dst``. SRC is only read.

    Raises:
        ConvertError: bad input (the CLI exits 2).
        VerifyError: --verify found outputs beyond tolerance (the CLI exits 1); DST is not written.
    """
    options = options or ConvertOptions()
    if options.to not in TARGETS:
        raise ConvertError(f"--to must be one of {', '.join(TARGETS)}, got {options.to!r}")
    src, dst = os.fspath(src), check_destination(os.fspath(src), os.fspath(dst), options.force)
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        log(f"warning: {message}")

    with tqdm(total=len(_STAGES), desc="convert", unit="stage", disable=_disabled(options), leave=False) as stages:
        prepared = _prepare(src, options, stages, log, warn)
        targets = TARGETS[options.to]
        comparisons: list = []
        with staging_directory(dst) as tmp:
            _advance(stages, "write")
            prepared.read.config.save_pretrained(tmp)
            prepared.processor.save_pretrained(tmp)
            _write_weights(tmp, prepared.state, targets, options.dtype)
            if options.verify:
                from .verify import verify_directory

                _advance(stages, "verify")
                comparisons = verify_directory(
                    tmp, prepared.read.config, as_float32(prepared.state), prepared.read.layout, targets, log
                )
            manifest = _manifest(tmp, src, prepared, options, warnings, comparisons)
            if any(not c.ok for c in comparisons):
                raise VerifyError(f"verification failed; {dst} was not written")
            _advance(stages, "publish")
            publish(tmp, dst)
    return ConvertResult(dst, manifest, warnings, comparisons)


def _prepare(
    src: str, options: ConvertOptions, stages: tqdm, log: Callable[[str], None], warn: Callable[[str], None]
) -> _Prepared:
    """Reads SRC, settles the config and checks every key, shape and value; casts to the output dtype."""
    dtype = numpy_dtype(options.dtype)
    _advance(stages, "read")
    if not os.path.exists(src):
        raise ConvertError(f"source {src} does not exist")
    read = read_checkpoint(src, options.config)
    source_files = file_entries(list(read.files), root=src if os.path.isdir(src) else None)
    _advance(stages, "check")
    for note in read.notes:
        log(f"note: {note}")
    shapes = {k: tuple(v.shape) for k, v in read.state.items()}
    weights.check_state_shapes(expected_shapes(read.config), shapes, source=src, origin=read.origin)
    check_tied(read.state)
    _check_finite(non_finite(read.state), "holds NaN or inf", options.strict, warn)
    if read.dropped:
        log(f"note: dropped {', '.join(sorted(read.dropped))} (not model weights; checked against the processor)")
    processor = resolve_processor(read.source, read.config, read.dropped, warn)
    _advance(stages, "cast")
    with tqdm(total=len(read.state), desc="cast", unit="tensor", disable=_disabled(options), leave=False) as bar:
        state, overflowed = cast_all(read.state, dtype, bar.update)
    _check_finite(overflowed, f"overflows {options.dtype}", options.strict, warn)
    return _Prepared(source_files, read, processor, state)


def _manifest(
    tmp: str, src: str, prepared: _Prepared, options: ConvertOptions, warnings: list[str], comparisons: list
) -> dict:
    return write_manifest(
        tmp,
        source={
            "path": os.path.abspath(src), "format": prepared.read.source.note, "naming": prepared.read.layout,
            "files": prepared.source_files,
        },
        settings={
            "to": options.to, "dtype": options.dtype, "config": prepared.read.config_origin, "strict": options.strict,
            "verify": options.verify,
        },
        notes=prepared.read.notes,
        warnings=warnings,
        dropped_keys=sorted(prepared.read.dropped),
        verify=[c.as_dict() for c in comparisons],
    )  # fmt: skip


def _advance(stages: tqdm, name: str) -> None:
    stages.set_description(name)
    stages.update(1)


def _disabled(options: ConvertOptions) -> bool | None:
    return None if options.progress is None else not options.progress


def _check_finite(keys: list[str], what: str, strict: bool, warn: Callable[[str], None]) -> None:
    if not keys:
        return
    message = f"{len(keys)} tensor(s) {what}: {', '.join(keys[:5])}" + (" ..." if len(keys) > 5 else "")
    if strict:
        raise ConvertError(message + " (--strict)")
    warn(message)


def _write_weights(directory: str, state: dict[str, np.ndarray], targets: tuple[str, ...], dtype: str) -> None:
    """model.safetensors and/or tf_model.h5 (HDF5 has no bfloat16: bfloat16 values are stored exactly as float32)."""
    if "torch" in targets:
        weights.write_safetensors(state, os.path.join(directory, weights.SAFETENSORS_NAME))
    if "tf" in targets:
        h5_state = as_float32(state) if dtype == "bfloat16" else state
        write_keras_h5(layouts.canonical_to_hf_tf(h5_state), os.path.join(directory, weights.TF_H5_NAME))
