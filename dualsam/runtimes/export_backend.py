"""What the runtime backends share: reading an export directory (``dualsam export``; its ``dualsam_export.json``,
``sam_core.export_manifest``) and the ``sam_core.backend.PredictionBackend`` methods on top of two runtime calls,
one image through the encoder and one image's prompts through the low-res decoder. ``OnnxBackend`` (ONNX Runtime)
and ``TfliteBackend`` (LiteRT) supply those two calls.

``embed`` runs the encoder once per image. ``decode`` runs the low-res decoder once per image with all its prompts
in Meta's point format (``sam_core.onnx_signature.lowres_decoder_feeds``), or ``prompts_per_run`` at a time: it
returns every mask token's low-res logits and IoU, and the predictor upscales the logits itself. Meta's decoder
(one prompt a run, upscaled masks) is there for tools built on Meta's export and is not loaded.

Shape legend: B images, P prompts per image, N points per prompt, K masks per prompt, C embedding channels, g
embedding grid, L low-res mask side (4 g), S input side.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

import numpy as np

from sam_core.config import SamConfig
from sam_core.model_inputs import check_model_inputs
from sam_core.onnx_signature import MANIFEST_NAME, lowres_decoder_feeds, read_manifest, sha256_file
from sam_core.validation import check_prompt_values

PRECISIONS = ("float32", "int8")
FORMAT_NAMES = {"onnx": "ONNX", "tflite": "LiteRT"}


class RuntimeMissingError(ImportError):
    """The runtime is not installed; the message is the one-line install hint."""


class ExportDirectoryError(ValueError):
    """A directory that is not a usable dualsam export for this backend; the message is one line."""


def runtime_installed(module: str) -> bool:
    """True when the runtime's module can be imported (nothing is imported)."""
    return importlib.util.find_spec(module) is not None


def import_runtime(module: str, *, backend: str, package: str, hint: str) -> Any:
    """The runtime's module, or RuntimeMissingError: "the BACKEND backend needs PACKAGE: HINT"."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise RuntimeMissingError(f"the {backend} backend needs {package}: {hint}") from error


def load_manifest(directory: str | os.PathLike, *, format: str, check_hashes: bool = True) -> dict[str, Any]:
    """The export's manifest, of ``format``, with every listed file present (and matching its sha256 when
    ``check_hashes``).

    Raises:
        ExportDirectoryError: not an export directory, an export of another format, a missing or changed file.
    """
    make = f"make one with dualsam export MODEL --format {format} --out DIR"
    if not os.path.isfile(os.path.join(directory, MANIFEST_NAME)):
        name = FORMAT_NAMES.get(format, format)
        raise ExportDirectoryError(f"{directory} is not a dualsam {name} export: {MANIFEST_NAME} is missing ({make})")
    try:
        manifest = read_manifest(directory)
    except ValueError as error:
        raise ExportDirectoryError(f"{error} ({make})") from error
    found = manifest.get("format", "onnx")  # the first ONNX exports wrote no format
    if found != format:
        raise ExportDirectoryError(f"{directory} is a {found} export, not {format}: run it with --backend {found}")
    for name, entry in manifest["files"].items():
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise ExportDirectoryError(f"{path} is listed in {MANIFEST_NAME} but missing")
        if check_hashes and sha256_file(path) != entry.get("sha256"):
            raise ExportDirectoryError(f"{path} does not match its sha256 in {MANIFEST_NAME} (changed or damaged)")
    return manifest


class ExportBackend:
    """A PredictionBackend on an export directory; subclasses run the files.

    Args:
        directory: an export directory (``dualsam export MODEL --format FORMAT --out DIR``).
        format: the export format the subclass runs ("onnx", "tflite").
        precision: "float32", or "int8" for the quantized files (``--quantize int8``).
        check_hashes: compare every file with its sha256 in the manifest first.
        prompts_per_run: at most this many prompts in one low-res decoder run (default: all of an image's prompts;
            the graph expands the image embedding to its prompt batch, so smaller runs bound that memory).

    Attributes:
        image_size: S, the model's input side.
        low_res_size: L, the side of the decoder's mask logits and of mask inputs.
        prompts_per_run: the most prompts in one decoder run (None: no limit).
        config: the exported model's SamConfig.
        manifest: the export's dualsam_export.json.
        files: the encoder's and the low-res decoder's file names for ``precision``.

    Raises:
        ExportDirectoryError: not a usable export (missing or changed files, no int8 files for "int8", or an export
            without the low-res decoder, from before it was added).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        format: str,
        precision: str = "float32",
        check_hashes: bool = True,
        prompts_per_run: int | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if prompts_per_run is not None and int(prompts_per_run) < 1:
            raise ValueError(f"prompts_per_run must be at least 1, got {prompts_per_run}")
        self.directory = os.fspath(directory)
        self.manifest = load_manifest(directory, format=format, check_hashes=check_hashes)
        self.config = SamConfig.from_dict(self.manifest["config"])
        if "decoder_lowres" not in self.manifest:
            raise ExportDirectoryError(
                f"{directory} has no low-res decoder (an export by an older dualsam): export the model again"
            )
        key = "file" if precision == "float32" else "int8_file"
        self.files = [self.manifest[part].get(key) for part in ("encoder", "decoder_lowres")]
        if not all(self.files):
            raise ExportDirectoryError(f"{directory} has no int8 files: export with --quantize int8")
        vision = self.config.vision_config
        self.image_size = int(vision.image_size)
        self.low_res_size = 4 * int(vision.grid_size)
        self.num_masks = int(self.config.mask_decoder_config.num_multimask_outputs) + 1
        self.prompts_per_run = None if prompts_per_run is None else int(prompts_per_run)
        self.precision = precision

    def run_encoder(self, pixel_values: np.ndarray) -> np.ndarray:
        """(1, 3, S, S) float32 -> (1, C, g, g) image_embeddings."""
        raise NotImplementedError

    def run_lowres_decoder(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The low-res decoder's feeds -> low_res_masks (P, K, L, L) and iou_predictions (P, K)."""
        raise NotImplementedError

    def embed(self, pixel_values: np.ndarray) -> np.ndarray:
        """(B, 3, S, S) float32 pixel values -> (B, C, g, g) float32 image embeddings (one encoder run per image)."""
        pixel_values = np.asarray(pixel_values, dtype=np.float32)
        check_model_inputs(self.config, pixel_values=pixel_values.shape)
        embeddings = [self.run_encoder(np.ascontiguousarray(pixel_values[i : i + 1])) for i in range(len(pixel_values))]
        return np.concatenate(embeddings, axis=0)

    def repeat_embeddings(self, embeddings: np.ndarray, count: int) -> np.ndarray:
        """(1, C, g, g) embeddings -> (count, C, g, g)."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        return embeddings if count == 1 else np.repeat(embeddings, count, axis=0)

    def decode(
        self,
        embeddings: np.ndarray,
        *,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        masks: np.ndarray | None = None,
        multimask_output: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Runs the low-res decoder on each image's prompts, all at once or ``prompts_per_run`` at a time (see
        ``sam_core.backend.PredictionBackend.decode``).

        Args:
            embeddings: (B, C, g, g) from :meth:`embed`.
            points: (B, P, N, 2) xy in the S frame; labels (B, P, N) (default 1).
            boxes: (B, P, 4) XYXY in the S frame.
            masks: (B, 1, L, L) mask-input logits, one per image.
            multimask_output: the three multimask outputs, or the single-mask token.

        Returns:
            (B, P, K, L, L) float32 mask logits and (B, P, K) float32 predicted IoUs.
        """
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if points is not None and labels is None:
            labels = np.ones(np.shape(points)[:3], dtype=np.int64)
        shape = lambda a: None if a is None else np.shape(a)  # noqa: E731
        check_model_inputs(
            self.config, image_embeddings=embeddings.shape, input_points=shape(points), input_labels=shape(labels),
            input_boxes=shape(boxes), input_masks=shape(masks),
        )  # fmt: skip
        check_prompt_values(input_points=points, input_labels=labels, input_boxes=boxes)
        tokens = slice(1, None) if multimask_output else slice(0, 1)
        prompts = next((np.shape(a)[1] for a in (points, boxes) if a is not None), 1)
        count, side = self.num_masks - 1 if multimask_output else 1, self.low_res_size
        logits = np.empty((len(embeddings), prompts, count, side, side), np.float32)
        scores = np.empty(logits.shape[:3], np.float32)
        step = self.prompts_per_run or max(prompts, 1)
        for image in range(len(embeddings)):
            for start in range(0, prompts, step):
                run = slice(start, start + step)
                feeds = lowres_decoder_feeds(
                    embeddings[image : image + 1],
                    points=None if points is None else points[image, run],
                    labels=None if labels is None else labels[image, run],
                    boxes=None if boxes is None else boxes[image, run],
                    masks=None if masks is None else masks[image],
                    low_res_size=self.low_res_size,
                )  # fmt: skip
                run_logits, run_scores = self.run_lowres_decoder(feeds)
                logits[image, run], scores[image, run] = run_logits[:, tokens], run_scores[:, tokens]
        return logits, scores
