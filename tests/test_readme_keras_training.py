"""The README's Keras fine-tuning block ("Fine-tune on your own data"), run as written on the tiny model and four
synthetic items for two steps: it trains (the decoder's weights move), keeps the frozen image encoder bit-equal,
and its checkpoint callback writes a directory that TFSamModel loads with the trained weights."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.cli_helpers import tiny  # noqa: F401 (pytest fixture used as an argument)

pytest.importorskip("keras")
pytest.importorskip("tensorflow")

README = Path(__file__).resolve().parents[1] / "README.md"


def keras_snippet() -> str:
    section = README.read_text(encoding="utf-8").split("## Fine-tune on your own data", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"the section should hold one python block, found {len(blocks)}"
    return blocks[0]


def test_readme_keras_fit_snippet_trains(tiny, tmp_path):  # noqa: F811
    from sam_tf import TFSamModel

    start = TFSamModel.from_pretrained(tiny[0])
    before = {v.path: v.numpy() for v in start.weights}
    scope = {"MODEL_DIR": tiny[0], "DATA": "synthetic:0:4", "STEPS": 2, "OUT": str(tmp_path / "run")}
    exec(compile(keras_snippet(), "README.md", "exec"), scope)
    model = scope["model"]
    after = {v.path: v.numpy() for v in model.weights}
    encoder = [name for name in after if "vision_encoder" in name]
    decoder = [name for name in after if "mask_decoder" in name]
    assert encoder and decoder
    assert all(np.array_equal(before[name], after[name]) for name in encoder)
    assert sum(not np.array_equal(before[name], after[name]) for name in decoder) > len(decoder) // 2
    saved = [p for p in (tmp_path / "run").rglob("config.json")]
    assert saved, "the checkpoint callback wrote no save_pretrained directory"
    reloaded = TFSamModel.from_pretrained(saved[0].parent)
    moved = next(name for name in decoder if not np.array_equal(before[name], after[name]))
    reloaded_weights = {v.path: v.numpy() for v in reloaded.weights}
    np.testing.assert_array_equal(reloaded_weights[moved], after[moved])
