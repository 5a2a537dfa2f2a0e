"""Fixtures of the ``dualsam segment / generate / info`` tests: a tiny random-weight model saved into a temporary
directory, its Meta-layout .pth, and a small odd-sized test image; plus helpers that run the CLI in-process."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from dualsam.cli import main
from sam_core import weights
from tests.helpers.images import synthetic_image
from tests.helpers.sam_weights import informative_state, tiny_config

torch = pytest.importorskip("torch")

HEIGHT, WIDTH = 45, 67
#: Binary masks of two backends / weight routes: pixels whose logit is within rounding of 0 may flip.
MASK_AGREEMENT = 0.999
#: Predicted IoUs across backends, or between a Meta .pth (decoder eps 1e-5) and the same weights at eps 1e-6.
SCORES_ATOL = 1e-4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model directory, torch SamModel, canonical state) for the tiny config with informative weights."""
    from sam_torch import SamModel

    model = SamModel(tiny_config()).eval()
    state = informative_state({k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    directory = str(tmp_path_factory.mktemp("tiny_model"))
    model.save_pretrained(directory)
    return directory, model, state


@pytest.fixture(scope="module")
def meta_pth(tiny, tmp_path_factory):
    """The tiny weights as a Meta segment-anything .pth (canonical_to_meta + torch.save)."""
    path = str(tmp_path_factory.mktemp("meta") / "sam_tiny.pth")
    meta = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.canonical_to_meta(tiny[2]).items()}
    torch.save(meta, path)
    return path


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    """(path, RGB array) of a small odd-sized PNG."""
    array = synthetic_image(HEIGHT, WIDTH, seed=3)
    path = str(tmp_path_factory.mktemp("images") / "scene.png")
    Image.fromarray(array).save(path)
    return path, array


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Runs ``dualsam ARGV`` in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_bad_input(code: int, err: str, command: str, match: str | None = None) -> None:
    """Exit 2 with exactly one line ``dualsam COMMAND: error: ...`` on stderr and no traceback."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dualsam {command}: error: "), err
    assert "Traceback" not in err
    if match is not None:
        assert match in lines[0], lines[0]


def read_json(path) -> object:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def no_temporary_files(directory) -> bool:
    """atomic_path leaves no ``.NAME.*.tmp`` behind."""
    return not [n for n in os.listdir(directory) if n.endswith(".tmp")]
