"""Round trips between the layouts (bit-identical), dtype round trips, every source layout, and the outputs loading
in transformers 4.x (torch in process, TF in a subprocess with tf-keras)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from sam_core import SamConfig, weights
from sam_core.h5_layout import read_keras_h5
from tests.helpers.convert_fixtures import tiny_state, write_hf_dir, write_meta_pth
from weights_convert import ConvertOptions, convert
from weights_convert.manifest import MANIFEST_NAME, check_manifest

QUIET = dict(progress=False)


@pytest.fixture(scope="module")
def tiny():
    return tiny_state(seed=5)


@pytest.fixture(scope="module")
def hf_dir(tiny, tmp_path_factory):
    return write_hf_dir(str(tmp_path_factory.mktemp("hf")), *tiny)


def _run(src, dst, log=None, **options):
    return convert(str(src), str(dst), ConvertOptions(**{**QUIET, **options}), log=log or (lambda message: None))


def _h5_datasets(path: str) -> dict[str, np.ndarray]:
    groups = read_keras_h5(path)
    return {f"{group}/{name}": value for group, tensors in groups.items() for name, value in tensors.items()}


def _assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert a[key].tobytes() == b[key].tobytes(), key


def test_torch_tf_torch_is_bit_identical(hf_dir, tmp_path):
    _run(hf_dir, tmp_path / "tf", to="tf")
    written = sorted(os.listdir(tmp_path / "tf"))
    assert written == ["config.json", MANIFEST_NAME, "preprocessor_config.json", "tf_model.h5"]
    _run(tmp_path / "tf", tmp_path / "back", to="torch")
    _assert_same_arrays(
        weights.read_safetensors(os.path.join(hf_dir, weights.SAFETENSORS_NAME)),
        weights.read_safetensors(tmp_path / "back" / weights.SAFETENSORS_NAME),
    )
    assert SamConfig.from_pretrained(tmp_path / "back") == SamConfig.from_pretrained(hf_dir)


def test_tf_torch_tf_is_bit_identical(hf_dir, tmp_path):
    _run(hf_dir, tmp_path / "tf", to="tf")
    _run(tmp_path / "tf", tmp_path / "torch", to="torch")
    _run(tmp_path / "torch", tmp_path / "tf2", to="tf")
    _assert_same_arrays(_h5_datasets(tmp_path / "tf" / "tf_model.h5"), _h5_datasets(tmp_path / "tf2" / "tf_model.h5"))


@pytest.mark.parametrize("dtype, eps", [("float16", 2.0**-11), ("bfloat16", 2.0**-8)])
def test_dtype_round_trip_is_within_the_dtypes_precision(hf_dir, tiny, tmp_path, dtype, eps):
    _run(hf_dir, tmp_path / "low", dtype=dtype)
    low = weights.read_safetensors(tmp_path / "low" / weights.SAFETENSORS_NAME)
    assert {v.dtype.name for v in low.values()} == {dtype}
    _run(tmp_path / "low", tmp_path / "back", to="both")
    back = weights.read_safetensors(tmp_path / "back" / weights.SAFETENSORS_NAME)
    back_h5 = weights.read_safetensors(tmp_path / "back" / weights.SAFETENSORS_NAME)
    for key, original in tiny[1].items():
        assert back[key].dtype == np.float32
        np.testing.assert_allclose(back[key], original, rtol=eps, atol=1e-7, err_msg=key)
        assert back[key].tobytes() == back_h5[key].tobytes()
    # the h5 of the low-precision output holds the same rounded values (bfloat16 stored exactly as float32)
    from_h5 = convert_h5_to_state(tmp_path / "low" / "tf_model.h5")
    for key, value in low.items():
        np.testing.assert_array_equal(from_h5[key].astype(np.float32), value.astype(np.float32), err_msg=key)


def convert_h5_to_state(path) -> dict[str, np.ndarray]:
    from sam_core import layouts

    return weights.fill_tied_keys(layouts.hf_tf_to_canonical(read_keras_h5(path)))


@pytest.mark.parametrize("layout", ["meta_pth", "bin", "sharded", "single_safetensors"])
def test_every_torch_source_layout_gives_the_same_weights(tiny, tmp_path, layout):
    import torch

    config, state = tiny
    src = tmp_path / "src"
    os.makedirs(src)
    if layout == "meta_pth":
        src = write_meta_pth(str(src / "sam.pth"), state)
    elif layout == "single_safetensors":
        src = str(src / "anything.bin")  # the name says nothing: the content decides
        weights.write_safetensors(state, src)
    elif layout == "bin":
        config.save_pretrained(src)
        torch.save({k: torch.from_numpy(v) for k, v in state.items()}, src / weights.TORCH_BIN_NAME)
    else:
        config.save_pretrained(src)
        keys = sorted(state)
        shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
        for shard, shard_keys in shards.items():
            weights.write_safetensors({k: state[k] for k in shard_keys}, src / shard)
        index = {"metadata": {}, "weight_map": {k: s for s, ks in shards.items() for k in ks}}
        (src / weights.SAFETENSORS_INDEX_NAME).write_text(json.dumps(index))
    config_arg = None if layout in ("bin", "sharded") else config.save_pretrained(tmp_path / "cfg")
    result = _run(src, tmp_path / "out", to="torch", config=config_arg)
    assert result.manifest["source"]["naming"] == ("meta" if layout == "meta_pth" else "transformers")
    out = weights.read_safetensors(tmp_path / "out" / weights.SAFETENSORS_NAME)
    _assert_same_arrays(out, state)
    assert check_manifest(str(tmp_path / "out")) == []


def test_manifest_records_hashes_source_and_settings(hf_dir, tmp_path):
    result = _run(hf_dir, tmp_path / "out", dtype="float16")
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert manifest == json.loads(json.dumps(result.manifest))
    assert sorted(manifest["files"]) == ["config.json", "model.safetensors", "preprocessor_config.json", "tf_model.h5"]
    assert manifest["settings"]["dtype"] == "float16" and manifest["settings"]["to"] == "both"
    assert manifest["source"]["naming"] == "transformers" and "model.safetensors" in manifest["source"]["files"]
    assert check_manifest(str(tmp_path / "out")) == []
    with h5py.File(tmp_path / "out" / "tf_model.h5", "r+") as handle:  # tamper with one weight
        dataset = handle["mask_decoder"][next(iter(handle["mask_decoder"]))]
        while isinstance(dataset, h5py.Group):
            dataset = dataset[next(iter(dataset))]
        dataset[...] = dataset[...] + 1
    assert check_manifest(str(tmp_path / "out")) == ["tf_model.h5"]


def test_transformers_torch_loads_the_output(hf_dir, tiny, tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    _run(write_meta_pth(str(tmp_path / "sam.pth"), tiny[1]), tmp_path / "out", to="torch",
         config=tiny[0].save_pretrained(tmp_path / "cfg"))  # fmt: skip
    reference = transformers.SamModel.from_pretrained(tmp_path / "out").eval()
    for key, value in reference.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), tiny[1][key], err_msg=key)
    processor = transformers.SamProcessor.from_pretrained(tmp_path / "out")
    assert processor.image_processor.image_mean == [0.485, 0.456, 0.406]
    assert isinstance(processor.image_processor.size, dict)
    del torch


_TF_LOAD = """
import sys, numpy as np, transformers
model = transformers.TFSamModel.from_pretrained(sys.argv[1])
state = {w.name: w.numpy() for w in model.weights}
np.savez(sys.argv[2], **{name.replace("/", "|"): value for name, value in state.items()})
"""


def test_transformers_tf_loads_the_output(hf_dir, tiny, tmp_path):
    """transformers' TFSamModel (tf-keras, own process) reads tf_model.h5 with every weight in place."""
    pytest.importorskip("transformers")
    pytest.importorskip("tf_keras")
    from sam_core import layouts

    _run(hf_dir, tmp_path / "out", to="tf")
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "USE_TF": "1", "USE_TORCH": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", _TF_LOAD, str(tmp_path / "out"), str(tmp_path / "tf_state.npz")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(tmp_path / "tf_state.npz") as data:
        loaded = {name.replace("|", "/"): data[name] for name in data.files}
    groups = layouts.canonical_to_hf_tf(tiny[1])
    expected = {name: value for tensors in groups.values() for name, value in tensors.items()}
    loaded = {name.split("/", 1)[1]: value for name, value in loaded.items()}
    expected = {name.split("/", 1)[1]: value for name, value in expected.items()}
    assert set(loaded) == set(expected), sorted(set(loaded) ^ set(expected))[:5]
    for name in expected:
        np.testing.assert_array_equal(loaded[name], expected[name], err_msg=name)
