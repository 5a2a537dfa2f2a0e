"""README.md's "Deploy: ONNX" snippet runs on an export of the tiny model and gives SamPredictor's masks and IoUs
(``tests/helpers/readme_snippet.py``; the ONNX-only environment runs it too)."""

from __future__ import annotations

import pytest

from tests.helpers.cli_helpers import tiny  # noqa: F401 (pytest fixture used as an argument)
from tests.helpers.images import synthetic_image
from tests.helpers.readme_snippet import check_onnx_snippet

pytest.importorskip("torch")
pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install 'dualsam[onnx]'")
pytest.importorskip("onnxruntime", reason="ONNX Runtime is needed: pip install 'dualsam[onnx]'")


def test_the_readme_onnx_snippet_runs_on_an_export(tiny, tmp_path):
    from sam_torch.onnx_export import export_onnx

    export = tmp_path / "export"
    export_onnx(tiny[1], export, check=False)  # the export's own check is tested in test_onnx_export.py
    assert {"encoder.onnx", "decoder.onnx", "dualsam_export.json"} <= {p.name for p in export.iterdir()}
    workdir = tmp_path / "work"
    workdir.mkdir()
    check_onnx_snippet(export, workdir, synthetic_image(480, 640, seed=4))
