"""LiteRT export of a ViT-B-sized Keras model (sam-vit-base shapes, informative random weights), slow: the export's
own check (sam_tf.tflite_check, the same probe as the ONNX check: the encoder on the probe image, every prompt case
— 1, 2 and 5 points, a box, points with a box, with and without mask_input — through decoder.tflite with a
non-square orig_im_size, batches through decoder_lowres.tflite) holds every output within 1e-4 * max(1, max|ref|)
of the Keras model."""

from __future__ import annotations

import pytest

from sam_core import SamConfig
from tests.helpers.sam_weights import informative_state
from tests.helpers.tolerances import OUTPUT_RTOL

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert", reason="LiteRT is needed: pip install 'dualsam[tflite]'")


@pytest.mark.slow
def test_vit_b_tflite_export_matches_keras(tmp_path):
    from sam_core.state_shapes import expected_shapes
    from sam_tf import TFSamModel
    from sam_tf.pretrained import load_state_into
    from sam_tf.tflite_export import export_tflite

    config = SamConfig.from_preset("sam-vit-base")
    model = TFSamModel(config)
    load_state_into(model, informative_state(expected_shapes(config), seed=3), source="informative_state")
    result = export_tflite(model, tmp_path)
    deviations = result.deviations
    print("\n" + "\n".join(str(d) for d in deviations))
    assert result.manifest["check"]["rtol"] <= OUTPUT_RTOL
    assert len(deviations) >= 10 and all(d.ok for d in deviations)
    names = " ".join(d.output for d in deviations)
    assert "embeddings" in names and "box" in names and "mask" in names, names
