"""``dualsam info``: the architecture, the parameter count (equal to sum(p.numel()) of the torch model), the formats
found (safetensors, sharded, tf_model.h5, Meta .pth) with file sizes, and bad inputs."""

from __future__ import annotations

import json
import os

import pytest

from dualsam import models as model_loading
from sam_core import weights
from tests.helpers.cli_helpers import assert_bad_input, meta_pth, run_cli, tiny  # noqa: F401 (fixtures)


def _info(capsys, *args) -> dict:
    code, out, err = run_cli(capsys, "info", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def _numel(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_directory_summary(tiny, capsys):
    report = _info(capsys, tiny[0])
    assert report["parameters"] == _numel(tiny[1])
    assert report["vision_encoder"]["hidden_size"] == 48 and report["vision_encoder"]["num_hidden_layers"] == 2
    vision = report["vision_encoder"]
    assert vision["num_attention_heads"] == 4 and vision["global_attn_indexes"] == [1]
    assert report["mask_decoder"]["hidden_size"] == 32 and report["mask_decoder"]["mlp_dim"] == 64
    assert report["prompt_encoder"]["hidden_size"] == 32
    assert report["formats"] == ["safetensors"] and report["dtypes"] == ["float32"]
    sizes = {n: os.path.getsize(os.path.join(tiny[0], n)) for n in ("config.json", "model.safetensors")}
    assert report["files"] == sizes and report["total_bytes"] == sum(sizes.values())


def test_text_output(tiny, capsys):
    code, out, err = run_cli(capsys, "info", tiny[0])
    assert code == 0, err
    assert f"parameters:      {_numel(tiny[1]):,}" in out
    assert "global attn indexes [1]" in out and "formats:         safetensors" in out
    assert "model.safetensors" in out


def test_torch_and_tf_weights_and_shards(tiny, tmp_path, capsys):
    from weights_convert import ConvertOptions, convert

    both = tmp_path / "both"
    convert(tiny[0], str(both), ConvertOptions(to="both", progress=False), log=lambda message: None)
    report = _info(capsys, both)
    assert report["formats"] == ["safetensors", "tf_model.h5"] and report["parameters"] == _numel(tiny[1])
    assert set(report["files"]) >= {"model.safetensors", "tf_model.h5", "config.json"}

    sharded = tmp_path / "sharded"
    sharded.mkdir()
    state = tiny[2]
    keys = sorted(state)
    halves = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for name, part in halves.items():
        weights.write_safetensors({k: state[k] for k in part}, str(sharded / name))
    weight_map = {k: name for name, part in halves.items() for k in part}
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (sharded / "config.json").write_text((tmp_path / "both" / "config.json").read_text())
    report = _info(capsys, sharded)
    assert report["formats"] == ["safetensors (sharded, 2 shards)"] and report["parameters"] == _numel(tiny[1])


def test_meta_pth(tiny, meta_pth, capsys):
    report = _info(capsys, meta_pth, "--config", os.path.join(tiny[0], "config.json"))
    assert report["formats"] == ["Meta .pth"] and report["parameters"] == _numel(tiny[1])
    assert report["files"] == {"sam_tiny.pth": os.path.getsize(meta_pth)}


def test_bad_inputs(tmp_path, capsys, monkeypatch, meta_pth):
    (tmp_path / "empty").mkdir()
    for model, match in [(tmp_path / "none", "does not exist"), (tmp_path / "empty", "holds no weights"),
                         (meta_pth, "--config on the command line")]:  # fmt: skip
        code, _, err = run_cli(capsys, "info", model)
        assert_bad_input(code, err, "info", match=match)
    monkeypatch.setattr(model_loading, "DEFAULT_MODEL_DIR", tmp_path / "missing")
    code, _, err = run_cli(capsys, "info")
    assert_bad_input(code, err, "info", match="pass --model")


@pytest.mark.parametrize("args", [["--jsn"], ["a", "b"]])
def test_bad_arguments(args, capsys):
    code, _, err = run_cli(capsys, "info", *args)
    assert_bad_input(code, err, "info", match="unrecognized arguments")


def test_hub_id_offline_is_one_line(tmp_path):
    """A Hub id that is not in the cache, with the Hub switched off: exit 2 with one line (no network here)."""
    import subprocess
    import sys

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    run = subprocess.run(
        [sys.executable, "-m", "dualsam", "info", "someone/sam-model"], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().count("\n") == 0 and "cannot fetch 'someone/sam-model'" in run.stderr
