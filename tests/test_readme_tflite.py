"""README.md's "Deploy: LiteRT" snippet runs on a LiteRT export of the tiny model and gives SamPredictor's masks and
IoUs on the LiteRT backend (``tests/helpers/readme_snippet.py``; the LiteRT-only environment runs it too)."""

from __future__ import annotations

import pytest

from tests.helpers.cli_helpers import tiny  # noqa: F401 (pytest fixture used as an argument)
from tests.helpers.images import synthetic_image
from tests.helpers.readme_snippet import check_onnx_snippet

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert", reason="LiteRT is needed: pip install 'dualsam[tflite]'")


def test_the_readme_tflite_snippet_runs_on_an_export(tiny, tmp_path):
    from dualsam.models import load_model
    from sam_tf.tflite_export import export_tflite

    export = tmp_path / "export"
    export_tflite(load_model(tiny[0], "tf").model, export, check=False)  # the check: tests/test_tflite_export.py
    assert {"encoder.tflite", "decoder.tflite", "dualsam_export.json"} <= {p.name for p in export.iterdir()}
    workdir = tmp_path / "work"
    workdir.mkdir()
    check_onnx_snippet(export, workdir, synthetic_image(480, 640, seed=4), "tflite")
