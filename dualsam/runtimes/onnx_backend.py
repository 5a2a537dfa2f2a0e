"""The ONNX Runtime ``sam_core.backend.PredictionBackend``: runs an export directory written by ``dualsam export``
(``sam_torch.onnx_export``) with no framework installed; ``SamPredictor(OnnxBackend(DIR))`` and
``SamAutomaticMaskGenerator(OnnxBackend(DIR))`` work as on a model.

The encoder graph takes one image, so ``embed`` runs it once per image. ``decode`` runs ``decoder_lowres.onnx``
once per image with all its prompts in Meta's point format (``sam_core.onnx_signature.lowres_decoder_feeds``): it
returns every mask token's low-res logits and IoU, and the predictor upscales the logits itself. Meta's
``decoder.onnx`` (one prompt a run, upscaled masks) is there for tools built on Meta's export and is not loaded.
onnxruntime is imported when a backend is made (``pip install 'dualsam[onnx]'``).

Shape legend: B images, P prompts per image, N points per prompt, K masks per prompt, C embedding channels, g
embedding grid, L low-res mask side (4 g), S input side.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np

from sam_core.config import SamConfig
from sam_core.model_inputs import check_model_inputs
from sam_core.onnx_signature import (
    ENCODER_OUTPUTS,
    LOWRES_DECODER_OUTPUTS,
    MANIFEST_NAME,
    lowres_decoder_feeds,
    read_manifest,
    sha256_file,
)  # fmt: skip
from sam_core.validation import check_prompt_values

INSTALL_HINT = "pip install 'dualsam[onnx]'"
PRECISIONS = ("float32", "int8")


class RuntimeMissingError(ImportError):
    """onnxruntime is not installed; the message is the one-line install hint."""


class ExportDirectoryError(ValueError):
    """A directory that is not a usable dualsam ONNX export; the message is one line."""


def is_available() -> bool:
    """True when onnxruntime can be imported (nothing is imported)."""
    return importlib.util.find_spec("onnxruntime") is not None


def import_onnxruntime() -> Any:
    """onnxruntime, or RuntimeMissingError with the install hint."""
    try:
        import onnxruntime
    except ImportError as error:
        raise RuntimeMissingError(f"the onnx backend needs onnxruntime: {INSTALL_HINT}") from error
    return onnxruntime


def load_manifest(directory: str | os.PathLike, *, check_hashes: bool = True) -> dict[str, Any]:
    """The export's manifest, with every listed file present (and matching its sha256 when ``check_hashes``).

    Raises:
        ExportDirectoryError: not an export directory, a missing or changed file.
    """
    try:
        manifest = read_manifest(directory)
    except (FileNotFoundError, ValueError) as error:
        raise ExportDirectoryError(f"{error} (make one with dualsam export MODEL --format onnx --out DIR)") from error
    for name, entry in manifest["files"].items():
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise ExportDirectoryError(f"{path} is listed in {MANIFEST_NAME} but missing")
        if check_hashes and sha256_file(path) != entry.get("sha256"):
            raise ExportDirectoryError(f"{path} does not match its sha256 in {MANIFEST_NAME} (changed or damaged)")
    return manifest


class OnnxBackend:
    """Runs an ONNX export's encoder and decoder with ONNX Runtime on numpy inputs.

    Args:
        directory: an export directory (``dualsam export MODEL --format onnx --out DIR``).
        precision: "float32", or "int8" for the quantized files (``--quantize int8``).
        check_hashes: compare every file with its sha256 in the manifest first.
        providers: ONNX Runtime execution providers (default: CPU).
        prompts_per_run: at most this many prompts in one low-res decoder run (default: all of an image's prompts;
            the graph expands the image embedding to its prompt batch, so smaller runs bound that memory).

    Attributes:
        image_size: S, the model's input side.
        low_res_size: L, the side of the decoder's mask logits and of mask inputs.
        prompts_per_run: the most prompts in one decoder run (None: no limit).
        config: the exported model's SamConfig.
        manifest: the export's dualsam_export.json.

    Raises:
        RuntimeMissingError: onnxruntime is not installed.
        ExportDirectoryError: not a usable export (missing or changed files, no int8 files for "int8", or an export
            without decoder_lowres.onnx, from before it was added).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        precision: str = "float32",
        check_hashes: bool = True,
        providers: list[str] | None = None,
        prompts_per_run: int | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if prompts_per_run is not None and int(prompts_per_run) < 1:
            raise ValueError(f"prompts_per_run must be at least 1, got {prompts_per_run}")
        onnxruntime = import_onnxruntime()
        self.directory = os.fspath(directory)
        self.manifest = load_manifest(directory, check_hashes=check_hashes)
        self.config = SamConfig.from_dict(self.manifest["config"])
        if "decoder_lowres" not in self.manifest:
            raise ExportDirectoryError(
                f"{directory} has no decoder_lowres.onnx (an export by an older dualsam): export the model again"
            )
        key = "file" if precision == "float32" else "int8_file"
        files = [self.manifest[part].get(key) for part in ("encoder", "decoder_lowres")]
        if not all(files):
            raise ExportDirectoryError(f"{directory} has no int8 files: export with --quantize int8")
        vision = self.config.vision_config
        self.image_size = int(vision.image_size)
        self.low_res_size = 4 * int(vision.grid_size)
        self.num_masks = int(self.config.mask_decoder_config.num_multimask_outputs) + 1
        self.prompts_per_run = None if prompts_per_run is None else int(prompts_per_run)
        self.precision = precision
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        providers = providers or ["CPUExecutionProvider"]
        self.encoder, self.decoder = (
            onnxruntime.InferenceSession(os.path.join(self.directory, name), options, providers=providers)
            for name in files
        )

    def embed(self, pixel_values: np.ndarray) -> np.ndarray:
        """(B, 3, S, S) float32 pixel values -> (B, C, g, g) float32 image embeddings (one encoder run per image)."""
        pixel_values = np.asarray(pixel_values, dtype=np.float32)
        check_model_inputs(self.config, pixel_values=pixel_values.shape)
        embeddings = [
            self.encoder.run(list(ENCODER_OUTPUTS), {"pixel_values": np.ascontiguousarray(pixel_values[i : i + 1])})[0]
            for i in range(len(pixel_values))
        ]
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
                run_logits, run_scores = self.decoder.run(list(LOWRES_DECODER_OUTPUTS), feeds)
                logits[image, run], scores[image, run] = run_logits[:, tokens], run_scores[:, tokens]
        return logits, scores
