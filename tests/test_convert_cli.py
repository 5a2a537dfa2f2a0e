"""The convert command line: exit codes, overwrite refusal, SRC untouched, no partial DST after a crash, corrupted
and unsafe inputs, key accounting, NaN/inf and pixel-statistics warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dualsam.cli import main as dualsam_main
from sam_core import weights
from tests.helpers.convert_fixtures import tiny_state, tree_digest, write_hf_dir, write_meta_pth
from weights_convert.cli import main as convert_main
from weights_convert.errors import EXIT_BAD_INPUT, EXIT_OK

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny():
    return tiny_state(seed=7)


@pytest.fixture(scope="module")
def hf_dir(tiny, tmp_path_factory):
    return write_hf_dir(str(tmp_path_factory.mktemp("hf")), *tiny)


@pytest.fixture()
def config_file(tiny, tmp_path):
    return tiny[0].save_pretrained(tmp_path / "cfg")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = convert_main([*map(str, args), "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def _bad(capsys, *args: str, match: str) -> str:
    code, _, err = _run(capsys, *args)
    assert code == EXIT_BAD_INPUT, err
    lines = [line for line in err.splitlines() if line.startswith("dualsam convert: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert match in lines[0], lines[0]
    return lines[0]


def _leftovers(directory) -> list[str]:
    return [name for name in os.listdir(directory) if name.endswith((".partial", ".old", ".tmp"))]


# ----------------------------------------------------------------------------------------------------- exit codes
def test_ok_exit_code_and_both_entry_points(hf_dir, tmp_path, capsys):
    code, out, _ = _run(capsys, hf_dir, tmp_path / "a", "--to", "torch")
    assert code == EXIT_OK and "wrote" in out
    assert dualsam_main(["convert", hf_dir, str(tmp_path / "b"), "--to", "tf", "--no-progress"]) == EXIT_OK
    expected = ["config.json", "dualsam_manifest.json", "preprocessor_config.json", "tf_model.h5"]
    assert sorted(os.listdir(tmp_path / "b")) == expected
    assert oct(os.stat(tmp_path / "b" / "tf_model.h5").st_mode & 0o777) == oct(0o644 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_python_dash_m_bad_input_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "weights_convert", str(tmp_path / "missing.pth"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == EXIT_BAD_INPUT
    message = f"dualsam convert: error: source {tmp_path / 'missing.pth'} does not exist"
    assert result.stderr.strip().splitlines() == [message]


def test_progress_is_shown_when_asked(hf_dir, tmp_path, capsys):
    assert convert_main([hf_dir, str(tmp_path / "out"), "--to", "torch", "--progress"]) == EXIT_OK
    assert "cast" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- overwrite, safety
def test_existing_destination_is_refused_unless_force(hf_dir, tmp_path, capsys):
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    _bad(capsys, hf_dir, dst, match="exists; pass --force")
    assert os.listdir(dst) == ["keep.txt"]
    code, _, _ = _run(capsys, hf_dir, dst, "--to", "torch", "--force")
    assert code == EXIT_OK and "keep.txt" not in os.listdir(dst) and "model.safetensors" in os.listdir(dst)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["directory", "meta_file"])
def test_source_is_never_modified(tiny, hf_dir, tmp_path, capsys, kind):
    src = hf_dir if kind == "directory" else write_meta_pth(str(tmp_path / "sam.pth"), tiny[1])
    before = tree_digest(src)
    extra = [] if kind == "directory" else ["--config", tiny[0].save_pretrained(tmp_path / "cfg")]
    assert _run(capsys, src, tmp_path / "out", *extra)[0] == EXIT_OK
    assert _run(capsys, src, tmp_path / "out", "--force", "--dtype", "float16", *extra)[0] == EXIT_OK
    assert tree_digest(src) == before


def test_destination_overlapping_source_is_refused(hf_dir, tmp_path, capsys):
    _bad(capsys, hf_dir, os.path.join(hf_dir, "inside"), match="overlaps the source")
    _bad(capsys, hf_dir, hf_dir, "--force", match="overlaps the source")
    _bad(capsys, hf_dir, os.path.dirname(hf_dir), "--force", match="overlaps the source")


@pytest.mark.parametrize("crash", [RuntimeError, KeyboardInterrupt])
def test_crash_mid_write_leaves_no_partial_destination(hf_dir, tmp_path, monkeypatch, crash):
    from weights_convert import ConvertOptions, convert, pipeline

    def failing_h5(groups, path):
        with open(path, "wb") as handle:
            handle.write(b"\x89HDF\r\n\x1a\n partial")
        raise crash("crash while writing tf_model.h5")

    monkeypatch.setattr(pipeline, "write_keras_h5", failing_h5)
    with pytest.raises(crash):
        convert(hf_dir, str(tmp_path / "out"), ConvertOptions(progress=False), log=lambda m: None)
    assert os.listdir(tmp_path) == []
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("previous")
    with pytest.raises(crash):
        convert(hf_dir, str(tmp_path / "old"), ConvertOptions(force=True, progress=False), log=lambda m: None)
    assert os.listdir(tmp_path / "old") == ["keep.txt"] and _leftovers(tmp_path) == []


_HARD_KILL = """
import os, sys
from weights_convert import pipeline
from weights_convert.cli import main
def killed(groups, path):
    open(path, "wb").write(b"partial")
    os._exit(9)
pipeline.write_keras_h5 = killed
main(sys.argv[1:])
"""


def test_hard_kill_mid_write_leaves_no_destination(hf_dir, tmp_path):
    result = subprocess.run([sys.executable, "-c", _HARD_KILL, hf_dir, str(tmp_path / "out")], timeout=300)
    assert result.returncode == 9
    assert not os.path.exists(tmp_path / "out")
    assert all(name.startswith(".out.") and name.endswith(".partial") for name in os.listdir(tmp_path))


# ------------------------------------------------------------------------------------------ corrupted and unsafe
def _truncate(path, keep: float = 0.5) -> None:
    data = open(path, "rb").read()
    open(path, "wb").write(data[: int(len(data) * keep)])


@pytest.mark.parametrize("what", ["safetensors_file", "safetensors_dir", "h5", "pth", "pth_header"])
def test_truncated_files_are_detected(tiny, hf_dir, tmp_path, capsys, what):
    config, state = tiny
    if what == "safetensors_file":
        src = tmp_path / "w.safetensors"
        weights.write_safetensors(state, src)
        _truncate(src)
    elif what == "safetensors_dir":
        src = write_hf_dir(str(tmp_path / "src"), config, state)
        _truncate(os.path.join(src, weights.SAFETENSORS_NAME), keep=0.9)
    elif what == "h5":
        assert convert_main([hf_dir, str(tmp_path / "tf"), "--to", "tf", "--no-progress"]) == EXIT_OK
        src = tmp_path / "tf"
        _truncate(src / "tf_model.h5", keep=0.6)
    else:
        src = write_meta_pth(str(tmp_path / "sam.pth"), state)
        _truncate(src, keep=0.5 if what == "pth" else 0.01)
    line = _bad(capsys, src, tmp_path / "out", "--config", config.save_pretrained(tmp_path / "cfg"), match="")
    assert any(word in line for word in ("truncated", "corrupt", "not a readable")), line
    assert not os.path.exists(tmp_path / "out")


class _Payload:
    def __reduce__(self):
        return (print, ("this would run at load time",))


def test_pth_with_a_pickled_object_is_refused(tiny, tmp_path, capsys):
    state = {k: torch.from_numpy(v) for k, v in weights.canonical_to_meta(tiny[1]).items()}
    torch.save({**state, "payload": _Payload()}, tmp_path / "evil.pth")
    line = _bad(capsys, tmp_path / "evil.pth", tmp_path / "out", match="needs full unpickling")
    assert "refused" in line
    assert "this would run" not in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"hello world, not weights at all", b"\x00" * 64])
def test_unrecognised_files_are_refused(tmp_path, capsys, content):
    (tmp_path / "x.pth").write_bytes(content)
    _bad(capsys, tmp_path / "x.pth", tmp_path / "out", match="x.pth")


def test_empty_directory_is_refused(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    _bad(capsys, tmp_path / "src", tmp_path / "out", match="holds no weights")


# --------------------------------------------------------------------------------------------- key accounting
def test_unknown_missing_and_misshaped_keys_are_named_in_source_terms(tiny, tmp_path, capsys, config_file):
    state = dict(tiny[1])
    del state["mask_decoder.iou_token.weight"]
    state["vision_encoder.neck.conv2.weight"] = state["vision_encoder.neck.conv2.weight"][:, :, :1]
    extra = {"mask_decoder.bonus.weight": np.zeros(3, np.float32)}
    src = write_meta_pth(str(tmp_path / "sam.pth"), state, extra=extra)
    line = _bad(capsys, src, tmp_path / "out", "--config", config_file, match="does not match the model")
    assert "missing keys (1): mask_decoder.iou_token.weight" in line
    assert "unexpected keys (1): mask_decoder.bonus.weight" in line  # the Meta name, as in the file
    assert "mis-shaped keys (1): image_encoder.neck.2.weight" in line


def test_differing_tied_copies_are_refused(tiny, tmp_path, capsys):
    config, state = tiny
    key = "prompt_encoder.shared_embedding.positional_embedding"
    src = write_hf_dir(str(tmp_path / "src"), config, {**state, key: state[key] + 1})
    _bad(capsys, src, tmp_path / "out", match="must equal its tied source")


def test_unknown_h5_weight_is_reported(hf_dir, tmp_path, capsys):
    import h5py

    assert convert_main([hf_dir, str(tmp_path / "tf"), "--to", "tf", "--no-progress"]) == EXIT_OK
    with h5py.File(tmp_path / "tf" / "tf_model.h5", "r+") as handle:
        group = handle["mask_decoder"]
        group.create_dataset("tf_sam_model/mask_decoder/bonus/kernel:0", data=np.zeros(2, np.float32))
        names = list(group.attrs["weight_names"]) + [b"tf_sam_model/mask_decoder/bonus/kernel:0"]
        group.attrs["weight_names"] = np.asarray(names)
    expected = "unexpected keys (1): mask_decoder/tf_sam_model/mask_decoder/bonus"
    _bad(capsys, tmp_path / "tf", tmp_path / "out", match=expected)


def test_ambiguous_architecture_asks_for_config(tiny, tmp_path, capsys):
    src = write_meta_pth(str(tmp_path / "sam.pth"), tiny[1])
    _bad(capsys, src, tmp_path / "out", match="num_attention_heads")


def test_unknown_preset_or_bad_config_file(tiny, tmp_path, capsys):
    src = write_meta_pth(str(tmp_path / "sam.pth"), tiny[1])
    _bad(capsys, src, tmp_path / "out", "--config", "sam-vit-gigantic", match="not a preset")
    (tmp_path / "bad.json").write_text("{not json")
    _bad(capsys, src, tmp_path / "out", "--config", tmp_path / "bad.json", match="not a valid SAM config.json")
    _bad(capsys, src, tmp_path / "out", "--config", "sam-vit-base", match="mis-shaped")


# -------------------------------------------------------------------------------------------- values, warnings
def test_nan_weights_warn_or_fail_with_strict(tiny, tmp_path, capsys):
    config, state = tiny
    state = {**state, "mask_decoder.iou_token.weight": np.full_like(state["mask_decoder.iou_token.weight"], np.nan)}
    src = write_hf_dir(str(tmp_path / "src"), config, state)
    code, _, err = _run(capsys, src, tmp_path / "out", "--to", "torch")
    assert code == EXIT_OK and "warning: 1 tensor(s) holds NaN or inf: mask_decoder.iou_token.weight" in err
    manifest = json.loads((tmp_path / "out" / "dualsam_manifest.json").read_text())
    assert any("NaN" in w for w in manifest["warnings"])
    _bad(capsys, src, tmp_path / "strict", "--strict", match="--strict")


def test_float16_overflow_is_reported(tiny, tmp_path, capsys):
    config, state = tiny
    state = {**state, "mask_decoder.iou_token.weight": state["mask_decoder.iou_token.weight"] * 1e6}
    src = write_hf_dir(str(tmp_path / "src"), config, state)
    code, _, err = _run(capsys, src, tmp_path / "out", "--dtype", "float16", "--to", "torch")
    assert code == EXIT_OK and "overflows float16: mask_decoder.iou_token.weight" in err
    _bad(capsys, src, tmp_path / "strict", "--dtype", "float16", "--strict", match="overflows float16")


def test_meta_pixel_statistics_are_checked_against_the_processor(tiny, tmp_path, capsys, config_file):
    mean = np.array([123.675, 116.28, 103.53], np.float32).reshape(3, 1, 1)
    std = np.array([58.395, 57.12, 57.375], np.float32).reshape(3, 1, 1)
    src = write_meta_pth(str(tmp_path / "same.pth"), tiny[1], extra={"pixel_mean": mean, "pixel_std": std})
    code, _, err = _run(capsys, src, tmp_path / "same", "--config", config_file)
    assert code == EXIT_OK and "warning" not in err and "dropped pixel_mean, pixel_std" in err
    src = write_meta_pth(str(tmp_path / "other.pth"), tiny[1], extra={"pixel_mean": mean + 10, "pixel_std": std})
    code, _, err = _run(capsys, src, tmp_path / "other", "--config", config_file)
    assert code == EXIT_OK and "warning: the checkpoint's pixel_mean" in err
    processor = json.loads((tmp_path / "other" / "preprocessor_config.json").read_text())
    np.testing.assert_allclose(np.array(processor["image_mean"]) * 255, mean.reshape(-1) + 10, rtol=1e-6)


def test_the_cli_modules_import_no_framework():
    code = (
        "import sys, dualsam.cli, weights_convert, weights_convert.cli\n"
        "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
