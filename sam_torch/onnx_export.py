"""ONNX export of a SamModel: the image encoder, and the prompt encoder + mask decoder with Meta's ONNX decoder
signature (segment-anything's ``scripts/export_onnx_model.py``), each checked against the torch model with ONNX
Runtime before the export's manifest is written.

Files in the export directory: ``encoder.onnx`` (pixel_values (1, 3, S, S) -> image_embeddings (1, C, g, g)),
``decoder.onnx`` (Meta's six inputs -> masks, iou_predictions, low_res_masks; see ``sam_core.onnx_signature``),
optionally ``*.int8.onnx`` (dynamic int8 quantization), and ``dualsam_export.json`` (config, preprocessing,
names and shapes, opset, sha256 of every file). onnx and onnxruntime are imported when needed
(``pip install 'dualsam[onnx]'``).

The decoder graph emulates Meta's ``SamOnnxModel`` on our modules: every prompt comes as points (labels 2 and 3
are the box corners, -1 a padding point), the dense prompt is ``has_mask_input`` times the mask embedding plus
``1 - has_mask_input`` times the no-mask embedding, all K mask tokens are returned (Meta's default; the single-mask
token first), and ``masks`` are the logits upscaled like Meta's (bilinear to S, crop to the resized size, bilinear
to ``orig_im_size``). With ``return_single_mask`` one mask is chosen as Meta's does: the single-mask token when
there are more than two points (the padding point counts), otherwise the best multimask output by predicted IoU.

Shape legend: P prompts, N points, K mask tokens, C embedding channels, g grid, L low-res side (4 g), S input side,
H/W original image size.
"""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sam_core.atomic import write_json
from sam_core.image_transforms import preprocess_shape, upscale_masks
from sam_core.onnx_signature import (
    DECODER_FILE,
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_FILE,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    INT8_SUFFIX,
    LABEL_CODES,
    MANIFEST_NAME,
    decoder_feeds,
    decoder_shapes,
    encoder_shapes,
    preprocessing,
    sha256_file,
)  # fmt: skip
from sam_core.probe import probe_inputs

from .prompt_encoder import NOT_A_POINT_LABEL, PAD_LABEL

#: Meta's export script's default opset; the lowest this exporter writes.
DEFAULT_OPSET = 17
#: ONNX Runtime against the torch model, relative to max(1, max|ref|): fp32 accumulation order differs.
EXPORT_RTOL = 1e-4
#: Meta's single-mask choice: the single-mask token wins by this much per point above 2.5 points.
SINGLE_MASK_REWEIGHT = 1000.0
INSTALL_HINT = "pip install 'dualsam[onnx]'"
QUANTIZATIONS = ("int8",)


class ExportCheckError(RuntimeError):
    """ONNX Runtime's outputs differ from the torch model's above EXPORT_RTOL; ``deviations`` lists them all."""

    def __init__(self, message: str, deviations: list[Deviation]) -> None:
        super().__init__(message)
        self.deviations = deviations


@dataclass(frozen=True)
class Deviation:
    """One output of one probe case: ONNX Runtime against the torch model."""

    output: str
    max_abs_diff: float
    bound: float

    @property
    def ok(self) -> bool:
        return bool(self.max_abs_diff <= self.bound)

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAIL"
        return f"{self.output:<44} max|Δ| {self.max_abs_diff:.3g}  (bound {self.bound:.3g})  {verdict}"


def import_onnxruntime() -> Any:
    """onnxruntime, or an ImportError whose message is the one-line install hint."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(f"ONNX export and the ONNX backend need onnx and onnxruntime: {INSTALL_HINT}") from error
    return onnxruntime


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as error:
        raise ImportError(f"ONNX export needs onnx and onnxruntime: {INSTALL_HINT}") from error
    return onnx


class ImageEncoderGraph(nn.Module):
    """pixel_values (1, 3, S, S) -> image_embeddings (1, C, g, g): the model's vision encoder alone."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.vision_encoder = model.vision_encoder

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.vision_encoder(pixel_values)[0]


class PromptDecoderGraph(nn.Module):
    """Meta's ONNX decoder (``SamOnnxModel``) on our prompt encoder and mask decoder.

    Args:
        model: a sam_torch.SamModel.
        return_single_mask: one mask per prompt, chosen as Meta's export does, instead of all K.
    """

    def __init__(self, model: nn.Module, *, return_single_mask: bool = False) -> None:
        super().__init__()
        self.model = model
        self.image_size = int(model.config.vision_config.image_size)
        self.return_single_mask = bool(return_single_mask)

    def embed_points(self, point_coords: torch.Tensor, point_labels: torch.Tensor) -> torch.Tensor:
        """(1, N, 2) S-frame points and (1, N) float codes -> (1, 1, N, C) sparse embeddings, the numbers of the
        prompt encoder's point and box paths (box corners are the points labelled 2 and 3)."""
        encoder = self.model.prompt_encoder
        side = self.image_size
        embedding = encoder.shared_embedding(point_coords + 0.5, (side, side))
        labels = point_labels[..., None]
        embedding = torch.where(labels == NOT_A_POINT_LABEL, encoder.not_a_point_embed.weight, embedding)
        embedding = torch.where(labels == PAD_LABEL, torch.zeros_like(embedding), embedding)
        for code, point_embed in enumerate(encoder.point_embed):
            embedding = embedding + (labels == code).to(embedding.dtype) * point_embed.weight
        return embedding[:, None]

    def embed_mask(self, mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        """(1, 1, L, L) mask logits and the (1,) switch -> (1, C, g, g) dense embeddings."""
        encoder = self.model.prompt_encoder
        no_mask = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        return has_mask_input * encoder.mask_embed(mask_input) + (1 - has_mask_input) * no_mask

    def select_single_mask(
        self, masks: torch.Tensor, iou: torch.Tensor, num_points: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Meta's choice without control flow: the single-mask token (index 0) above 2.5 points, else the best IoU
        among the multimask outputs. (1, K, L, L), (1, K), (1, 1) -> (1, 1, L, L), (1, 1)."""
        first = (torch.arange(iou.shape[1]) == 0).to(iou.dtype) * SINGLE_MASK_REWEIGHT
        best = torch.argmax(iou + (num_points - 2.5) * first, dim=1)
        return masks[:, best], iou[:, best]

    def upscale(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        """(1, K, L, L) logits -> (1, K, H, W): bilinear to S, crop to the resized size, bilinear to (H, W)."""
        side = self.image_size
        masks = F.interpolate(masks, size=(side, side), mode="bilinear", align_corners=False)
        size = orig_im_size.to(torch.float32)
        resized = torch.floor(size * (side / torch.max(size)) + 0.5).to(torch.int64)
        masks = masks[..., : resized[0], : resized[1]]
        original = orig_im_size.to(torch.int64)
        return F.interpolate(masks, size=(original[0], original[1]), mode="bilinear", align_corners=False)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
        orig_im_size: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Meta's decoder: returns masks (1, K, H, W) logits, iou_predictions (1, K), low_res_masks (1, K, L, L)."""
        sparse = self.embed_points(point_coords, point_labels)
        dense = self.embed_mask(mask_input, has_mask_input)
        positional = self.model.get_image_wide_positional_embeddings()
        masks, iou, _ = self.model.mask_decoder.predict_masks(image_embeddings, positional, sparse, dense)
        masks, iou = masks[:, 0], iou[:, 0]
        if self.return_single_mask:
            num_points = torch.ones_like(point_labels).sum(dim=1, keepdim=True)  # (1, 1), dynamic N
            masks, iou = self.select_single_mask(masks, iou, num_points)
        return self.upscale(masks, orig_im_size), iou, masks


# --------------------------------------------------------------------------------------------------- the check
def probe_size(image_size: int) -> tuple[int, int]:
    """The probe's non-square original (H, W): 600 x 800 at S = 1024 (the probe image's 3:4 content)."""
    return max(1, round(image_size * 600 / 1024)), max(1, round(image_size * 800 / 1024))


def probe_cases(config: Any) -> list[dict[str, Any]]:
    """The decoder's probe: verify's prompts (``sam_core.probe.probe_inputs``, one prompt each), five mixed points,
    and a mask-only prompt; each a dict of name, points (N, 2), labels (N,), box (4,) and mask (1, 1, L, L)."""
    side = config.vision_config.image_size
    _, prompts = probe_inputs(config)
    cases = [
        {"name": p["name"], "points": p["points"][0, 0] if "points" in p else None,
         "labels": p["labels"][0, 0] if "labels" in p else None,
         "box": p["boxes"][0, 0] if "boxes" in p else None, "mask": p.get("masks")}
        for p in prompts
    ]  # fmt: skip
    fractions = np.array([[0.3, 0.45], [0.6, 0.2], [0.1, 0.7], [0.8, 0.55], [0.45, 0.3]], np.float32)
    labels = np.array([1, 0, 1, 0, 1], np.int64)
    cases.append({"name": "5 points", "points": fractions * side, "labels": labels, "box": None, "mask": None})
    mask = next(case["mask"] for case in cases if case["mask"] is not None)
    cases.append({"name": "mask only", "points": None, "labels": None, "box": None, "mask": mask})
    return cases


def reference_decode(model: nn.Module, embedding: torch.Tensor, case: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Our model's forward on one probe case, every mask token: (1, K, L, L) logits and (1, K) IoUs."""
    kwargs: dict[str, Any] = {"image_embeddings": embedding}
    if case["points"] is not None:
        kwargs["input_points"] = np.asarray(case["points"], np.float32).reshape(1, 1, -1, 2)
        kwargs["input_labels"] = np.asarray(case["labels"], np.int64).reshape(1, 1, -1)
    if case["box"] is not None:
        kwargs["input_boxes"] = np.asarray(case["box"], np.float32).reshape(1, 1, 4)
    if case["mask"] is not None:
        kwargs["input_masks"] = np.asarray(case["mask"], np.float32).reshape(1, 1, *case["mask"].shape[-2:])
    with torch.no_grad():
        single = model(**kwargs, multimask_output=False)
        multi = model(**kwargs, multimask_output=True)
    logits = torch.cat([single.pred_masks, multi.pred_masks], dim=2)[0].float().cpu().numpy()
    iou = torch.cat([single.iou_scores, multi.iou_scores], dim=2)[0].float().cpu().numpy()
    return logits, iou


def select_single_mask(logits: np.ndarray, iou: np.ndarray, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Meta's single-mask choice in numpy: (1, K, L, L), (1, K) -> (1, 1, L, L), (1, 1)."""
    score = iou.astype(np.float64).copy()
    score[:, 0] += (num_points - 2.5) * SINGLE_MASK_REWEIGHT
    best = int(np.argmax(score[0]))
    return logits[:, best : best + 1], iou[:, best : best + 1]


def _deviation(name: str, ours: np.ndarray, reference: np.ndarray) -> Deviation:
    ref = np.asarray(reference, np.float64)
    ours = np.asarray(ours, np.float64)
    diff = float(np.max(np.abs(ours - ref))) if ours.shape == ref.shape else float("inf")
    return Deviation(name, diff, EXPORT_RTOL * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0))


def session(path: str | os.PathLike) -> Any:
    """An ONNX Runtime CPU session on ``path``."""
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_export(
    directory: str | os.PathLike,
    model: nn.Module,
    *,
    return_single_mask: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[Deviation]:
    """Runs encoder.onnx and decoder.onnx of ``directory`` with ONNX Runtime on the probe and compares them with
    ``model``.

    The encoder gets verify's probe image; the decoder gets the torch model's embedding of it and every probe case
    in Meta's point format, with a non-square ``orig_im_size``. ``masks`` is compared with the reference logits
    upscaled by ``sam_core.image_transforms.upscale_masks``.

    Raises:
        ExportCheckError: some output differs by more than EXPORT_RTOL * max(1, max|ref|).
    """
    config = model.config
    low_res = 4 * config.vision_config.grid_size
    side = config.vision_config.image_size
    pixels, _ = probe_inputs(config)
    deviations: list[Deviation] = []
    encoder = session(os.path.join(directory, ENCODER_FILE))
    (ours,) = encoder.run(list(ENCODER_OUTPUTS), {"pixel_values": pixels})
    with torch.no_grad():
        embedding = model.get_image_embeddings(torch.from_numpy(pixels))
    numpy_embedding = embedding.float().cpu().numpy()
    deviations.append(_deviation("encoder: image_embeddings", ours, numpy_embedding))
    decoder = session(os.path.join(directory, DECODER_FILE))
    orig_size = probe_size(side)
    for case in probe_cases(config):
        feeds = decoder_feeds(
            numpy_embedding, points=case["points"], labels=case["labels"], box=case["box"], mask=case["mask"],
            orig_size=orig_size, low_res_size=low_res,
        )  # fmt: skip
        masks, iou, low_res_masks = decoder.run(list(DECODER_OUTPUTS), feeds)
        logits, ref_iou = reference_decode(model, embedding, case)
        if return_single_mask:
            logits, ref_iou = select_single_mask(logits, ref_iou, feeds["point_coords"].shape[1])
        ref_masks = upscale_masks(logits, orig_size, preprocess_shape(orig_size, side), (side, side))
        for name, value, reference in (("masks", masks, ref_masks), ("iou_predictions", iou, ref_iou),
                                       ("low_res_masks", low_res_masks, logits)):  # fmt: skip
            deviations.append(_deviation(f"decoder {case['name']}: {name}", value, reference))
    if log is not None:
        for deviation in deviations:
            log(str(deviation))
    failed = [d for d in deviations if not d.ok]
    if failed:
        worst = max(failed, key=lambda d: d.max_abs_diff / d.bound)
        raise ExportCheckError(
            f"the ONNX export differs from the torch model in {len(failed)} of {len(deviations)} probe outputs "
            f"(worst: {worst.output} max|Δ| {worst.max_abs_diff:.3g} > {worst.bound:.3g})",
            deviations,
        )
    return deviations


# --------------------------------------------------------------------------------------------------- the export
def _export(module: nn.Module, args: tuple, path: str, names: tuple, outputs: tuple, dynamic: dict, opset: int):
    """The TorchScript exporter (as Meta's script uses): Meta's crop to the resized size is data-dependent, which
    the tracer records as Slice ops where torch.export would need unbacked sizes."""
    choice = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings of the TorchScript exporter
        torch.onnx.export(
            module, args, path, opset_version=opset, do_constant_folding=True, input_names=list(names),
            output_names=list(outputs), dynamic_axes=dynamic, **choice,
        )  # fmt: skip


def decoder_example_inputs(config: Any) -> tuple[torch.Tensor, ...]:
    """Dummy decoder inputs for tracing: five points with every label code, a mask input switched on."""
    vision = config.vision_config
    grid, side = vision.grid_size, vision.image_size
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(1, vision.output_channels, grid, grid, generator=generator),
        torch.randint(0, side, (1, 5, 2), generator=generator).float(),
        torch.tensor([[1.0, 0.0, 2.0, 3.0, -1.0]]),
        torch.randn(1, 1, 4 * grid, 4 * grid, generator=generator),
        torch.tensor([1.0]),
        torch.tensor([0.75 * side, float(side)]),
    )


def quantize_int8(source: str, destination: str) -> None:
    """Dynamic int8 quantization of one ONNX file (onnxruntime.quantization.quantize_dynamic, uint8 weights)."""
    import_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice on pre-processing goes to the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(source, destination, weight_type=QuantType.QUInt8)
    finally:
        root.setLevel(level)


@dataclass
class ExportResult:
    """What ``export_onnx`` wrote.

    Attributes:
        directory: the export directory.
        manifest: the content of ``dualsam_export.json``.
        deviations: the self-check's comparisons (empty when ``check=False``).
    """

    directory: str
    manifest: dict[str, Any]
    deviations: list[Deviation] = field(default_factory=list)


def export_onnx(
    model: nn.Module,
    directory: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    quantize: str | None = None,
    return_single_mask: bool = False,
    check: bool = True,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Writes encoder.onnx, decoder.onnx (and their int8 twins) and dualsam_export.json into ``directory``.

    The graphs are written into a temporary folder inside ``directory`` and checked there, then moved into place;
    the manifest is written last, so a directory with a manifest holds a checked export.

    Args:
        model: a float32 sam_torch.SamModel.
        directory: created if needed; existing export files in it are replaced.
        opset: the ONNX opset, at least 17.
        quantize: None or "int8" (``quantize_dynamic``; these files are run, not compared).
        return_single_mask: the decoder returns Meta's chosen single mask instead of all K.
        check: run the ONNX Runtime check against ``model`` (ExportCheckError above EXPORT_RTOL).
        log: where progress and the check's lines go.

    Raises:
        ValueError: opset below 17, an unknown quantization, or a model not in float32.
        ImportError: onnx or onnxruntime missing (the message is the install hint).
        ExportCheckError: the check failed; no file of this export is left in ``directory``.
    """
    if int(opset) < DEFAULT_OPSET:
        raise ValueError(f"opset must be at least {DEFAULT_OPSET}, got {opset}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    if model.dtype != torch.float32:
        raise ValueError(f"export a float32 model, got {model.dtype} (load it with dtype='float32')")
    onnx = _import_onnx()
    import_onnxruntime()
    say = log or (lambda line: None)
    config = model.config
    model = model.eval().cpu()
    os.makedirs(directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=directory)
    quantized: dict[str, str] = {}
    deviations: list[Deviation] = []
    try:
        encoder_path, decoder_path = (os.path.join(staging, name) for name in (ENCODER_FILE, DECODER_FILE))
        say(f"exporting the image encoder (opset {opset})")
        pixels = probe_inputs(config)[0]
        graph = ImageEncoderGraph(model)
        _export(graph, (torch.from_numpy(pixels),), encoder_path, ENCODER_INPUTS, ENCODER_OUTPUTS, {}, opset)
        say("exporting the prompt encoder + mask decoder (Meta's ONNX decoder signature)")
        dynamic = {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"},
                   "masks": {2: "orig_height", 3: "orig_width"}}  # fmt: skip
        graph = PromptDecoderGraph(model, return_single_mask=return_single_mask)
        _export(graph, decoder_example_inputs(config), decoder_path, DECODER_INPUTS, DECODER_OUTPUTS, dynamic, opset)
        for path in (encoder_path, decoder_path):
            onnx.checker.check_model(path)
        if check:
            say("checking ONNX Runtime against the torch model on the probe")
            deviations = check_export(staging, model, return_single_mask=return_single_mask, log=say)
        if quantize == "int8":
            quantized = _quantize_all(staging, config, pixels, say)
        names = sorted(os.listdir(staging))
        _remove(os.path.join(directory, MANIFEST_NAME))  # no manifest until the new files are all in place
        for name in names:
            os.replace(os.path.join(staging, name), os.path.join(directory, name))
        for stale in {_int8_name(ENCODER_FILE), _int8_name(DECODER_FILE)} - set(names):
            _remove(os.path.join(directory, stale))  # int8 files of an earlier export
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    manifest = build_manifest(
        config, directory, names, opset=opset, quantized=quantized, return_single_mask=return_single_mask,
        checked=bool(check), deviations=deviations,
    )  # fmt: skip
    write_json(os.path.join(directory, MANIFEST_NAME), manifest)
    say(f"wrote {MANIFEST_NAME}")
    return ExportResult(str(directory), manifest, deviations)


def _int8_name(name: str) -> str:
    return name[: -len(".onnx")] + INT8_SUFFIX


def _remove(path: str) -> None:
    if os.path.isfile(path):
        os.remove(path)


def _quantize_all(staging: str, config: Any, pixels: np.ndarray, say: Callable[[str], None]) -> dict[str, str]:
    """Writes encoder.int8.onnx and decoder.int8.onnx next to the float files and runs each once."""
    quantized = {}
    for name in (ENCODER_FILE, DECODER_FILE):
        target = _int8_name(name)
        say(f"quantizing {name} to {target} (dynamic int8)")
        quantize_int8(os.path.join(staging, name), os.path.join(staging, target))
        quantized[name] = target
    (embedding,) = session(os.path.join(staging, quantized[ENCODER_FILE])).run(None, {"pixel_values": pixels})
    feeds = decoder_feeds(
        embedding, points=np.array([[0.3, 0.45]]) * config.vision_config.image_size, labels=np.ones(1),
        orig_size=probe_size(config.vision_config.image_size), low_res_size=4 * config.vision_config.grid_size,
    )  # fmt: skip
    outputs = session(os.path.join(staging, quantized[DECODER_FILE])).run(None, feeds)
    if not all(np.isfinite(output).all() for output in outputs):
        raise ExportCheckError("the int8 decoder gives non-finite outputs on the probe", [])
    return quantized


def build_manifest(
    config: Any,
    directory: str | os.PathLike,
    names: list[str],
    *,
    opset: int,
    quantized: dict[str, str],
    return_single_mask: bool,
    checked: bool,
    deviations: list[Deviation],
) -> dict[str, Any]:
    """The content of dualsam_export.json."""
    encoder_io = encoder_shapes(config)
    decoder_io = decoder_shapes(config, return_single_mask)
    worst = max((d.max_abs_diff / d.bound for d in deviations), default=None)
    return {
        "format": "onnx",
        "opset": int(opset),
        "config": config.to_dict(),
        "preprocessing": preprocessing(config),
        "low_res_size": 4 * config.vision_config.grid_size,
        "encoder": {
            "file": ENCODER_FILE,
            "int8_file": quantized.get(ENCODER_FILE),
            "inputs": {name: encoder_io[name] for name in ENCODER_INPUTS},
            "outputs": {name: encoder_io[name] for name in ENCODER_OUTPUTS},
        },
        "decoder": {
            "file": DECODER_FILE,
            "int8_file": quantized.get(DECODER_FILE),
            "signature": "segment-anything scripts/export_onnx_model.py (SamOnnxModel)",
            "return_single_mask": bool(return_single_mask),
            "label_codes": LABEL_CODES,
            "inputs": {name: decoder_io[name] for name in DECODER_INPUTS},
            "outputs": {name: decoder_io[name] for name in DECODER_OUTPUTS},
            "dtype": "float32 for every input and output (point_labels and orig_im_size too, as Meta's)",
        },
        "check": {"done": checked, "rtol": EXPORT_RTOL, "outputs": len(deviations),
                  "worst_fraction_of_bound": worst},  # fmt: skip
        "files": {name: {"sha256": sha256_file(os.path.join(directory, name)),
                         "bytes": os.path.getsize(os.path.join(directory, name))} for name in names},  # fmt: skip
        "torch_version": torch.__version__,
    }
