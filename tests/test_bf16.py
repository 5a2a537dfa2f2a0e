"""The bf16 mode (``from_pretrained(..., dtype="bfloat16")``, ``--dtype bf16``) against float32 of the same backend:
what the model says and saves, the issue's accuracy bounds on the parity cases (tiny config; ViT-B with informative
random weights, one case per backend), the predictor and the mask generator, the CLI, and the default model's mIoU.
Where the CPU lacks native bfloat16, torch's bf16 mode warns (RuntimeWarning), which these tests ignore.

The bounds are the issue's: embeddings max|Δ| within 2e-2 of their range, IoU scores within 0.02, post-processed
binary masks equal on 99% of pixels, mIoU within 0.01.
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings

import numpy as np
import pytest
import torch

from sam_core import SamConfig, SamImageProcessor, SamProcessor
from sam_core.mask_generator import SamAutomaticMaskGenerator
from sam_core.predictor import SamPredictor
from sam_core.tensors import to_numpy
from sam_tf import TFSamModel
from sam_tf import precision as tf_precision
from sam_tf.pretrained import load_state_into as tf_load_state_into
from sam_torch import SamModel
from sam_torch import precision as torch_precision
from tests.helpers.cli_helpers import assert_bad_input, image_file, read_json, run_cli, tiny  # noqa: F401
from tests.helpers.images import synthetic_image
from tests.helpers.sam_weights import informative_state

#: The issue's bounds for bf16 against float32 of the same backend.
EMBEDDING_RANGE_FRACTION = 2e-2
IOU_ATOL = 0.02
MASK_AGREEMENT = 0.99
MIOU_GAP = 0.01
#: Synthetic scenes of the mIoU comparison (a seed used neither by training nor by its evaluation): two dozen keep
#: it under a minute on 2 cores; the Keras twin of the test is marked slow.
MIOU_SCENES = "synthetic:20261203:24"

LANDSCAPE = synthetic_image(480, 640, seed=1)
PORTRAIT = synthetic_image(640, 360, seed=2)
#: Parity cases (tests/test_torch_parity.py's kinds): points with a background click, a box, several prompts,
#: points with boxes, the single-mask output, and two images of two sizes in one call.
CASES = {
    "fg_bg_points": dict(images=LANDSCAPE, input_points=[[[[100, 200], [300, 150], [500, 400]]]],
                         input_labels=[[[1, 0, 1]]]),
    "box": dict(images=PORTRAIT, input_boxes=[[[40, 30, 300, 560]]]),
    "several_prompts": dict(images=PORTRAIT, input_points=[[[[50, 60]], [[180, 320]], [[300, 600]]]]),
    "points_and_boxes": dict(images=LANDSCAPE, input_points=[[[[120, 200]], [[400, 100]]]],
                             input_boxes=[[[50, 60, 250, 350], [300, 20, 600, 200]]]),
    "single_mask": dict(images=LANDSCAPE, input_points=[[[[320, 240]]]], multimask_output=False),
    "two_images_two_sizes": dict(images=[LANDSCAPE, PORTRAIT], input_points=[[[[100, 100]]], [[[200, 300]]]]),
}  # fmt: skip
PROMPT_KEYS = ("input_points", "input_labels", "input_boxes")
pytestmark = pytest.mark.filterwarnings("ignore:this cpu device has no native bfloat16:RuntimeWarning")
PROCESSOR = SamProcessor(SamImageProcessor())


def _no_grad(backend: str):
    return torch.no_grad() if backend == "torch" else contextlib.nullcontext()


#: (id(model), mode, pixels digest) -> (model, embeddings); the model is held so that its id is not reused.
_EMBEDDINGS: dict[tuple[int, str, bytes], tuple[object, np.ndarray]] = {}


def _embeddings(model, pixel_values: np.ndarray) -> np.ndarray:
    """The model's image embeddings, once per model, mode and batch of images (cases share images)."""
    precision = torch_precision if isinstance(model, SamModel) else tf_precision
    key = (id(model), precision.compute_dtype(model), hashlib.sha1(pixel_values.tobytes()).digest())
    if key not in _EMBEDDINGS:
        _EMBEDDINGS[key] = (model, to_numpy(model.get_image_embeddings(pixel_values)))
    return _EMBEDDINGS[key][1]


def _outputs(model, backend: str, case: dict) -> dict[str, np.ndarray | list]:
    """Embeddings, IoU scores and post-processed binary masks of one parity case, as numpy."""
    case = dict(case)
    multimask = case.pop("multimask_output", True)
    inputs = PROCESSOR(**case, return_tensors="np")
    prompts = {key: inputs[key] for key in PROMPT_KEYS if key in inputs}
    with _no_grad(backend):
        embeddings = _embeddings(model, inputs["pixel_values"])
        outputs = model(image_embeddings=embeddings, multimask_output=multimask, **prompts)
    masks = PROCESSOR.post_process_masks(to_numpy(outputs.pred_masks), inputs["original_sizes"],
                                         inputs["reshaped_input_sizes"])  # fmt: skip
    return {"embeddings": embeddings, "iou": to_numpy(outputs.iou_scores), "masks": masks}


def assert_within_bounds(ours: dict, reference: dict) -> dict[str, float]:
    """The issue's three bounds, bf16 (``ours``) against float32 (``reference``); returns the measured figures."""
    assert ours["embeddings"].dtype == np.float32  # sam_core sees float32 numpy
    span = float(reference["embeddings"].max() - reference["embeddings"].min())
    embedding = float(np.max(np.abs(ours["embeddings"] - reference["embeddings"]))) / span
    iou = float(np.max(np.abs(ours["iou"] - reference["iou"])))
    same = sum(int(np.sum(a == b)) for a, b in zip(ours["masks"], reference["masks"]))
    agreement = same / sum(int(m.size) for m in reference["masks"])
    assert embedding <= EMBEDDING_RANGE_FRACTION, f"embeddings max|Δ| = {embedding:.3g} of their range"
    assert iou <= IOU_ATOL, f"IoU max|Δ| = {iou:.3g}"
    assert agreement >= MASK_AGREEMENT, f"masks agree on {agreement:.5f} of pixels"
    assert embedding > 0 and iou > 0  # bfloat16 did run: the comparison can fail
    return {"embedding": embedding, "iou": iou, "agreement": agreement}


def _load(backend: str, directory: str, dtype: str | None):
    cls = SamModel if backend == "torch" else TFSamModel
    return cls.from_pretrained(directory, dtype=dtype)


@pytest.fixture(scope="module")
def tiny_pairs(tiny):  # noqa: F811
    """backend -> (float32 model, bf16 model), both from the tiny directory."""
    return {name: (_load(name, tiny[0], None), _load(name, tiny[0], "bfloat16")) for name in ("torch", "tf")}


# -- what the model says and saves ------------------------------------------------------------------------------------


def test_torch_bf16_mode_says_so_and_keeps_float32_weights(tiny, tmp_path):  # noqa: F811
    for model in (SamModel.from_pretrained(tiny[0], dtype="bfloat16"),
                  SamModel.from_pretrained(tiny[0], torch_dtype=torch.bfloat16)):  # fmt: skip
        assert model.dtype == torch.bfloat16 and model.weight_dtype == torch.float32
        assert torch_precision.compute_dtype(model) == "bfloat16"
        assert {p.dtype for p in model.parameters()} == {torch.float32}
    model.save_pretrained(tmp_path)
    again = SamModel.from_pretrained(tmp_path)
    assert again.dtype == torch.float32  # save_pretrained writes float32 weights; the mode is a load option
    for key, value in again.state_dict().items():
        assert value.dtype == torch.float32 and np.array_equal(value.numpy(), tiny[2][key]), key
    assert SamModel.from_pretrained(tiny[0]).dtype == torch.float32


def test_keras_bf16_mode_says_so_and_keeps_float32_variables(tiny, tmp_path):  # noqa: F811
    model = TFSamModel.from_pretrained(tiny[0], dtype="bf16")
    assert model.dtype == "bfloat16" and tf_precision.compute_dtype(model) == "bfloat16"
    assert {v.dtype for v in model.weights} == {"float32"}
    policies = {layer.name: layer.dtype_policy.name for layer in tf_precision.heavy_layers(model)}
    assert {"qkv", "proj", "lin1", "lin2", "projection", "conv1", "conv2"} <= set(policies)
    assert set(policies.values()) == {"mixed_bfloat16"}
    # the float32 islands: layer norms, the decoder (IoU head included), the prompt encoder
    assert model.vision_encoder.layers[0].layer_norm1.dtype_policy.name == "float32"
    assert model.mask_decoder.iou_prediction_head.proj_in.dtype_policy.name == "float32"
    model.save_pretrained(tmp_path)
    again = TFSamModel.from_pretrained(tmp_path)
    assert again.dtype == "float32"
    from sam_tf.pretrained import model_state

    for key, value in model_state(again).items():
        assert value.dtype == np.float32 and np.array_equal(value, tiny[2][key]), key


def test_the_torch_bf16_mode_warns_where_bfloat16_is_emulated(tiny, monkeypatch):  # noqa: F811
    model = SamModel.from_pretrained(tiny[0])
    monkeypatch.setattr(torch_precision, "native_bfloat16", lambda device: False)
    with pytest.warns(RuntimeWarning, match="no native bfloat16"):
        torch_precision.set_compute_dtype(model, "bfloat16")
    monkeypatch.setattr(torch_precision, "native_bfloat16", lambda device: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch_precision.set_compute_dtype(model, "bfloat16")
    assert isinstance(torch_precision.native_bfloat16(torch.device("cpu")), bool)


def test_bad_dtypes_are_refused_by_name(tiny):  # noqa: F811
    with pytest.raises(ValueError, match="not supported by the Keras backend"):
        TFSamModel.from_pretrained(tiny[0], dtype="float16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        TFSamModel.from_pretrained(tiny[0], dtype="int8")
    model = SamModel.from_pretrained(tiny[0], dtype="float16")
    with pytest.raises(ValueError, match="float32 weights"):
        torch_precision.set_compute_dtype(model, "bfloat16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        torch_precision.set_compute_dtype(model, "fp8")
    with pytest.raises(ValueError, match="dtype must be one of"):
        tf_precision.set_compute_dtype(TFSamModel.from_pretrained(tiny[0]), "float16")


# -- accuracy ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "tf"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_tiny_bf16_is_within_the_bounds_on_the_parity_cases(tiny_pairs, backend, name):
    reference, ours = tiny_pairs[backend]
    assert_within_bounds(_outputs(ours, backend, CASES[name]), _outputs(reference, backend, CASES[name]))


def _vit_b(backend: str):
    """A ViT-B SamModel or TFSamModel with informative random weights."""
    config = SamConfig.from_preset("sam-vit-base")
    model = SamModel(config)
    state = informative_state({k: tuple(v.shape) for k, v in model.state_dict().items()}, seed=7)
    if backend == "torch":
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
        return model
    model = TFSamModel(config)
    tf_load_state_into(model, state, source="informative_state")
    return model


@pytest.mark.slow  # torch: minutes where the CPU emulates bfloat16 GEMMs; Keras: ~3 min on 2 shared cores
@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_vit_b_bf16_is_within_the_bounds(backend):
    """ViT-B with informative random weights, one parity case: float32, then the same model in the bf16 mode."""
    model = _vit_b(backend)
    precision = torch_precision if backend == "torch" else tf_precision
    case = CASES["points_and_boxes"]
    try:
        reference = _outputs(model, backend, case)
        precision.set_compute_dtype(model, "bfloat16")
        figures = assert_within_bounds(_outputs(model, backend, case), reference)
    finally:
        _EMBEDDINGS.clear()  # frees the ViT-B model
    print(f"ViT-B {backend} bf16 vs fp32: {figures}")


# -- the predictor, the mask generator, the CLI -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_the_predictor_runs_in_bf16(tiny_pairs, backend):
    results = []
    for model in tiny_pairs[backend]:
        predictor = SamPredictor(model)
        predictor.set_image(LANDSCAPE)
        assert predictor.get_image_embedding().dtype == np.float32
        masks, scores, logits = predictor.predict(np.array([[320, 240], [100, 100]]), np.array([1, 0]))
        assert scores.dtype == np.float32 and logits.dtype == np.float32
        results.append((masks, scores))
    (masks32, scores32), (masks16, scores16) = results
    assert np.max(np.abs(scores16 - scores32)) <= IOU_ATOL
    assert np.mean(masks16 == masks32) >= MASK_AGREEMENT


def _best_ious(records: list[dict], reference: list[dict]) -> list[float]:
    """For each reference mask, its best IoU with any of ``records``."""
    ious = []
    for ref in reference:
        a = ref["segmentation"]
        best = [np.sum(a & r["segmentation"]) / max(1, np.sum(a | r["segmentation"])) for r in records]
        ious.append(max(best, default=0.0))
    return ious


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_the_mask_generator_runs_in_bf16(backend):
    """The default model (trained: its masks are objects) on a synthetic scene: bf16 finds fp32's masks."""
    from dualsam.models import load_model
    from sam_core.synthetic import SyntheticSceneDataset

    image = SyntheticSceneDataset(20261203, length=1)[0].image
    found = []
    for dtype in ("fp32", "bf16"):
        model = load_model(None, backend, dtype=dtype).model
        generator = SamAutomaticMaskGenerator(model, points_per_side=8, progress=False)
        found.append(generator.generate(image))
    reference, ours = found
    assert reference and ours
    assert np.mean(_best_ious(ours, reference)) >= 0.95


def test_cli_segment_runs_in_bf16(tiny, image_file, tmp_path, capsys):  # noqa: F811
    for dtype in ("fp32", "bf16"):
        code, _, err = run_cli(capsys, "segment", image_file[0], "--point", "20,14", "--model", tiny[0],
                               "--out", tmp_path / dtype, "--dtype", dtype)  # fmt: skip
        assert code == 0, err
    ours, reference = read_json(tmp_path / "bf16" / "result.json"), read_json(tmp_path / "fp32" / "result.json")
    assert ours["model"]["dtype"] == "bf16" and reference["model"]["dtype"] == "fp32"
    assert np.max(np.abs(np.subtract(ours["scores"], reference["scores"]))) <= IOU_ATOL


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["segment", "--dtype", "fp16"], "--dtype must be one of fp32, bf16, got 'fp16'"),
        (["generate", "--dtype", "float64"], "--dtype must be one of fp32, bf16"),
        (["evaluate", "--data", "synthetic:0:2", "--dtype", "int8"], "--dtype must be one of fp32, bf16"),
        (["serve", "--dtype", "fp16"], "--dtype must be one of fp32, bf16"),
        (["export", "--out", "EXPORT", "--dtype", "bf16"], "--dtype bf16 does not apply to export"),
        (["export", "--out", "EXPORT", "--dtype", "x"], "--dtype must be one of fp32, bf16"),
        (["segment", "--backend", "onnx", "--model", ".", "--dtype", "bf16"], "--dtype bf16 runs on --backend torch"),
    ],
)
def test_a_bad_dtype_exits_2(capsys, tmp_path, argv, needle):
    argv = [str(tmp_path / "x") if a == "EXPORT" else a for a in argv]
    code, _, err = run_cli(capsys, *argv)
    assert_bad_input(code, err, argv[0], needle)


def test_finetune_bf16_is_torch_only(capsys, tmp_path):
    code, _, err = run_cli(capsys, "finetune", "--data", "synthetic:0:4", "--out", tmp_path / "run", "--backend",
                           "tf", "--dtype", "bf16", "--steps", "1")  # fmt: skip
    assert_bad_input(code, err, "finetune", "bf16 fine-tuning runs on the torch backend")


# -- the default model's quality --------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", pytest.param("tf", marks=pytest.mark.slow)])
def test_default_model_miou_in_bf16_is_within_0_01_of_fp32(backend):
    from dualsam.evaluate import evaluate

    reports = {dtype: evaluate(MIOU_SCENES, backend=backend, dtype=dtype) for dtype in ("fp32", "bf16")}
    assert reports["bf16"]["model"]["dtype"] == "bf16"
    for key in ("point_miou", "box_miou"):
        gap = abs(reports["bf16"][key] - reports["fp32"][key])
        assert gap <= MIOU_GAP, f"{backend} {key}: fp32 {reports['fp32'][key]:.4f}, bf16 {reports['bf16'][key]:.4f}"
    print(f"{backend}: " + ", ".join(f"{k} fp32 {reports['fp32'][k]:.4f} bf16 {reports['bf16'][k]:.4f}"
                                     for k in ("point_miou", "box_miou")))  # fmt: skip
