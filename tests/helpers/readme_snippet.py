"""The README's runtime snippets ("Deploy: ONNX" with ONNX Runtime, "Deploy: LiteRT" with ai-edge-litert),
extracted and run on an export directory, so the README cannot drift from the exported files. numpy and Pillow only
(the ONNX-only and LiteRT-only environments run them too)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Deploy: ONNX"
#: The names the snippet reads: its export directory, its image file, and its point (image pixels).
SNIPPET_DIR, SNIPPET_IMAGE, SNIPPET_POINT = "sam_onnx", "photo.jpg", (500, 375)
#: Runtime backend -> (README section, the snippet's export directory).
SNIPPETS = {"onnx": (SECTION, SNIPPET_DIR), "tflite": ("## Deploy: LiteRT", "sam_tflite")}


def onnx_snippet(runtime: str = "onnx") -> str:
    """The one ```python block of the README's "Deploy: ONNX" (or ``runtime``'s) section."""
    heading = SNIPPETS[runtime][0]
    text = README.read_text(encoding="utf-8")
    assert heading in text, f"README.md has no {heading!r} section"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"the {heading!r} section should hold one python block, found {len(blocks)}"
    return blocks[0]


def run_onnx_snippet(
    export_dir: str | os.PathLike, workdir: str | os.PathLike, image: np.ndarray, runtime: str = "onnx"
) -> dict[str, Any]:
    """Runs the snippet in ``workdir`` with ``sam_onnx`` (``sam_tflite``) linked to ``export_dir`` and ``image``
    saved as ``photo.jpg``; returns its variables and, under ``"image"``, the RGB array it read (JPEG decoded)."""
    code = onnx_snippet(runtime)
    directory = SNIPPETS[runtime][1]
    for name in (directory, SNIPPET_IMAGE, repr(SNIPPET_POINT).replace(" ", "")):
        assert name in code.replace(" ", ""), f"the snippet no longer uses {name}: update tests/helpers/readme_snippet"
    workdir = Path(workdir)
    os.symlink(os.path.abspath(export_dir), workdir / directory)
    Image.fromarray(image).save(workdir / SNIPPET_IMAGE, quality=95)
    namespace: dict[str, Any] = {"__name__": "readme_snippet"}
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        exec(compile(code, str(README), "exec"), namespace)
    finally:
        os.chdir(previous)
    namespace["image"] = np.asarray(Image.open(workdir / SNIPPET_IMAGE).convert("RGB"))
    return namespace


def check_onnx_snippet(
    export_dir: str | os.PathLike, workdir: str | os.PathLike, image: np.ndarray, runtime: str = "onnx"
) -> None:
    """The snippet's masks and IoUs against SamPredictor on dualsam's ONNX (or ``runtime``'s) backend, on the same
    files: IoUs within 1e-4, the thresholded masks agreeing on >= 99.9% of pixels."""
    from dualsam.runtimes import RUNTIMES, runtime_module
    from sam_core.predictor import SamPredictor

    backend = getattr(runtime_module(runtime), RUNTIMES[runtime][1])
    ran = run_onnx_snippet(export_dir, workdir, image, runtime)
    height, width = ran["image"].shape[:2]
    assert ran["masks"].shape == (1, 4, height, width) and ran["best"].shape == (height, width)
    predictor = SamPredictor(backend(export_dir))
    predictor.set_image(ran["image"])
    masks, scores, _ = predictor.predict(np.array([SNIPPET_POINT]), np.array([1]), multimask_output=True)
    np.testing.assert_allclose(ran["iou"][0, 1:], scores, atol=1e-4)
    for ours, reference in zip(ran["masks"][0, 1:] > 0, masks):
        assert np.mean(ours == reference) >= 0.999
    assert np.array_equal(ran["best"], masks[int(np.argmax(scores))])
