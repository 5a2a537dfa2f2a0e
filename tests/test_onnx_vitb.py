"""ONNX export of a ViT-B-sized model (sam-vit-base shapes, informative random weights), slow: the export's own check
(sam_torch.onnx_check: the encoder on the probe image, every probe prompt case — 1, 2 and 5 points, a box, points
with a box, with and without mask_input — through decoder.onnx with a non-square orig_im_size, batches through
decoder_lowres.onnx) holds every output within 1e-4 * max(1, max|ref|) of the torch model."""

from __future__ import annotations

import pytest

from sam_core import SamConfig
from tests.helpers.sam_weights import informative_state
from tests.helpers.tolerances import OUTPUT_RTOL

torch = pytest.importorskip("torch")
pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install 'dualsam[onnx]'")
pytest.importorskip("onnxruntime", reason="ONNX Runtime is needed: pip install 'dualsam[onnx]'")


@pytest.mark.slow
def test_vit_b_onnx_export_matches_torch(tmp_path):
    from sam_torch import SamModel
    from sam_torch.onnx_export import export_onnx

    model = SamModel(SamConfig.from_preset("sam-vit-base")).eval()
    state = informative_state({k: tuple(v.shape) for k, v in model.state_dict().items()}, seed=3)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    result = export_onnx(model, tmp_path)
    deviations = result.deviations
    print("\n" + "\n".join(str(d) for d in deviations))
    assert result.manifest["check"]["rtol"] <= OUTPUT_RTOL
    assert len(deviations) >= 10 and all(d.ok for d in deviations)
    names = " ".join(d.output for d in deviations)
    assert "embeddings" in names and "box" in names and "mask" in names, names
