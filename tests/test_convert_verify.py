"""--verify: passes on a faithful conversion, and fails (exit 1, no DST) when the written weights differ from the
source, so the check is shown to be able to fail."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.helpers.convert_fixtures import tiny_state, write_meta_pth
from weights_convert import pipeline
from weights_convert.cli import main as convert_main
from weights_convert.errors import EXIT_OK, EXIT_VERIFY_FAILED
from weights_convert.verify import VERIFY_RTOL, compare, probe_inputs

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def meta_source(tmp_path_factory):
    config, state = tiny_state(seed=11)
    tmp = tmp_path_factory.mktemp("verify")
    return write_meta_pth(str(tmp / "sam.pth"), state), config.save_pretrained(tmp / "cfg")


def _verify(capsys, src, dst, *args) -> tuple[int, str]:
    code = convert_main([str(src), str(dst), "--verify", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_verify_passes_on_a_faithful_conversion(meta_source, tmp_path, capsys):
    src, config = meta_source
    code, text = _verify(capsys, src, tmp_path / "out", "--config", config, "--to", "both")
    assert code == EXIT_OK, text
    lines = [line for line in text.splitlines() if line.startswith(("torch ", "tf "))]
    assert len(lines) == 2 * 17 and all(line.endswith("ok") for line in lines), text


def test_verify_fails_when_a_written_weight_is_perturbed(meta_source, tmp_path, capsys, monkeypatch):
    src, config = meta_source
    original = pipeline._write_weights

    def perturbed(directory, state, targets, dtype):
        state = dict(state)
        key = "mask_decoder.output_hypernetworks_mlps.0.proj_out.weight"
        state[key] = state[key] + np.float32(1e-2)
        original(directory, state, targets, dtype)

    monkeypatch.setattr(pipeline, "_write_weights", perturbed)
    code, text = _verify(capsys, src, tmp_path / "out", "--config", config, "--to", "torch")
    assert code == EXIT_VERIFY_FAILED, text
    assert "FAIL" in text and "verification failed" in text
    assert not os.path.exists(tmp_path / "out") and os.listdir(tmp_path) == []


def test_verify_catches_a_transpose_that_shapes_cannot(meta_source, tmp_path, capsys, monkeypatch):
    """A square dense kernel written untransposed into tf_model.h5 keeps its shape; only the probe can see it."""
    pytest.importorskip("keras")
    from sam_core import layouts

    src, config = meta_source
    group, name = layouts.hf_tf_name("mask_decoder.transformer.layers.0.self_attn.q_proj.weight")  # (32, 32)
    real = pipeline.write_keras_h5

    def untransposed(groups, path):
        groups[group][name] = np.ascontiguousarray(groups[group][name].T)
        real(groups, path)

    monkeypatch.setattr(pipeline, "write_keras_h5", untransposed)
    code, text = _verify(capsys, src, tmp_path / "out", "--config", config, "--to", "tf")
    assert code == EXIT_VERIFY_FAILED, text
    assert any(line.startswith("tf ") and line.endswith("FAIL") for line in text.splitlines())


def test_verify_bfloat16_is_checked_against_the_rounded_source(meta_source, tmp_path, capsys):
    src, config = meta_source
    code, text = _verify(capsys, src, tmp_path / "out", "--config", config, "--to", "torch", "--dtype", "bfloat16")
    assert code == EXIT_OK, text


def test_compare_uses_the_relative_bound():
    ref = {"a": np.array([10.0, -20.0]), "b": np.array([0.1])}
    results = compare("torch", {"a": np.array([10.0, -20.0 + 1.9e-3]), "b": np.array([0.1 + 2e-4])}, ref)
    assert results[0].bound == pytest.approx(VERIFY_RTOL * 20) and results[0].ok
    assert results[1].bound == pytest.approx(VERIFY_RTOL) and not results[1].ok


def test_probe_covers_every_prompt_kind():
    from tests.helpers.sam_weights import tiny_config

    pixels, prompts = probe_inputs(tiny_config())
    assert pixels.shape == (1, 3, 1024, 1024) and np.abs(pixels).max() > 0.5
    assert {p["name"] for p in prompts} == {"point", "box", "point+box", "point+mask"}
    assert prompts[-1]["masks"].shape == (1, 1, 256, 256)


def test_verify_from_a_keras_source_uses_the_keras_model_as_reference(meta_source, tmp_path, capsys):
    """tf_model.h5 -> torch: the source side is TFSamModel, so the comparison crosses frameworks."""
    pytest.importorskip("keras")
    src, config = meta_source
    assert convert_main([src, str(tmp_path / "tf"), "--config", config, "--to", "tf", "--no-progress"]) == EXIT_OK
    code, text = _verify(capsys, tmp_path / "tf", tmp_path / "torch", "--to", "torch")
    assert code == EXIT_OK, text
    assert "transformers-tf source (tf model)" in text
    diffs = [float(line.split("max|Δ|")[1].split()[0]) for line in text.splitlines() if line.startswith("torch ")]
    assert len(diffs) == 17 and max(diffs) > 0  # different frameworks: not bit-identical, but within the bound
