"""int8 exports of the default model, ONNX (from torch) and LiteRT (from Keras): on 200 held-out synthetic scenes, point
and box mIoU (sam_core.evaluation: one point at each object's most interior pixel, best of 3 by predicted IoU; the
tight box) drop by at most 0.02 against the same export in fp32 (whose outputs match the framework model's to 1e-4,
tests/test_onnx_export.py and tests/test_tflite_export.py). The file sizes are printed (run with -s)."""

from __future__ import annotations

import os

import pytest

from sam_core.evaluation import EVAL_SEED, evaluate_model
from sam_core.synthetic import SyntheticSceneDataset

SCENES = 200
#: The issue's bound on the int8 mIoU drop.
MAX_INT8_DROP = 0.02


def _onnx(directory):
    pytest.importorskip("torch")
    pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install 'dualsam[onnx]'")
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is needed: pip install 'dualsam[onnx]'")
    from dualsam.models import load_model
    from dualsam.runtimes.onnx_backend import OnnxBackend
    from sam_torch.onnx_export import export_onnx

    export_onnx(load_model(None, "torch").model, directory, quantize="int8")
    return OnnxBackend(directory), OnnxBackend(directory, precision="int8"), "encoder.onnx", "encoder.int8.onnx"


def _tflite(directory):
    pytest.importorskip("tensorflow")
    pytest.importorskip("ai_edge_litert", reason="LiteRT is needed: pip install 'dualsam[tflite]'")
    from dualsam.models import load_model
    from dualsam.runtimes.tflite_backend import TfliteBackend
    from sam_tf.tflite_export import export_tflite

    export_tflite(load_model(None, "tf").model, directory, quantize="int8")
    return TfliteBackend(directory), TfliteBackend(directory, precision="int8"), "encoder.tflite", "encoder.int8.tflite"


@pytest.mark.slow
@pytest.mark.parametrize("export", [_onnx, _tflite], ids=["onnx", "tflite"])
def test_int8_default_model_keeps_miou_within_002(export, tmp_path):
    fp32_backend, int8_backend, fp32_file, int8_file = export(tmp_path)
    scenes = SyntheticSceneDataset(EVAL_SEED, length=SCENES)
    fp32, int8 = evaluate_model(fp32_backend, scenes), evaluate_model(int8_backend, scenes)
    sizes = {name: os.path.getsize(tmp_path / name) for name in sorted(os.listdir(tmp_path)) if "." in name}
    print(f"\n{SCENES} scenes, {fp32.num_objects} objects")
    print(f"  fp32 point mIoU {fp32.point_miou:.4f}  box mIoU {fp32.box_miou:.4f}")
    print(f"  int8 point mIoU {int8.point_miou:.4f}  box mIoU {int8.box_miou:.4f}")
    for name, size in sizes.items():
        print(f"  {name:<28} {size / 1e6:.2f} MB")
    assert fp32.point_miou - int8.point_miou <= MAX_INT8_DROP
    assert fp32.box_miou - int8.box_miou <= MAX_INT8_DROP
    assert sizes[int8_file] < 0.5 * sizes[fp32_file]
