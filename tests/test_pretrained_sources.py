"""One checkpoint reader behind both backends' from_pretrained: every source the CLI reads loads in the library,
with the same numbers as converting first; keyword arguments are checked; round trips keep keys and values."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from sam_core import weights
from sam_torch import SamModel
from tests.helpers.convert_fixtures import tiny_state, write_meta_pth
from weights_convert import ConvertOptions, convert

QUIET = ConvertOptions(progress=False)


@pytest.fixture(scope="module")
def tiny():
    return tiny_state(seed=11)


@pytest.fixture(scope="module")
def sources(tiny, tmp_path_factory):
    """A tiny checkpoint in every layout: name -> path."""
    config, state = tiny
    root = tmp_path_factory.mktemp("sources")
    found = {"meta_pth": write_meta_pth(str(root / "sam_vit_tiny.pth"), state)}
    single = root / "weights.safetensors"
    weights.write_safetensors(state, single)
    found["single_safetensors"] = str(single)
    directory = root / "bin"
    config.save_pretrained(directory)
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, directory / weights.TORCH_BIN_NAME)
    found["bin_dir"] = str(directory)
    directory = root / "sharded"
    config.save_pretrained(directory)
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for shard, shard_keys in shards.items():
        weights.write_safetensors({k: state[k] for k in shard_keys}, directory / shard)
    index = {"metadata": {}, "weight_map": {k: s for s, ks in shards.items() for k in ks}}
    (directory / weights.SAFETENSORS_INDEX_NAME).write_text(json.dumps(index))
    found["sharded_dir"] = str(directory)
    convert(found["bin_dir"], str(root / "tf_dir"), ConvertOptions(to="tf", progress=False))
    found["tf_h5_dir"] = str(root / "tf_dir")
    return found


def _probe(model, backend: str) -> dict[str, np.ndarray]:
    from weights_convert.verify import run_probe

    return run_probe(model, model.config)


def _load(backend: str, path: str, **kwargs):
    if backend == "torch":
        return SamModel.from_pretrained(path, **kwargs)
    from sam_tf import TFSamModel

    return TFSamModel.from_pretrained(path, **kwargs)


@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_meta_pth_loads_bit_identical_to_converting_first(tiny, sources, tmp_path, backend):
    """from_pretrained(Meta .pth) == convert to a directory, then from_pretrained(directory): every output equal.
    (The tiny architecture's decoder heads are not among the presets, so both are given the config.)"""
    config, _ = tiny
    direct = _probe(_load(backend, sources["meta_pth"], config=config), backend)
    config_file = config.save_pretrained(tmp_path / "config")
    convert(sources["meta_pth"], str(tmp_path / "converted"), ConvertOptions(config=config_file, progress=False))
    via_directory = _probe(_load(backend, str(tmp_path / "converted")), backend)
    assert sorted(direct) == sorted(via_directory)
    for name in direct:
        np.testing.assert_array_equal(direct[name], via_directory[name], err_msg=name)


@pytest.mark.parametrize("layout", ["single_safetensors", "bin_dir", "sharded_dir", "tf_h5_dir"])
@pytest.mark.parametrize("backend", ["torch", "tf"])
def test_every_source_layout_loads_the_same_weights(tiny, sources, backend, layout):
    config, state = tiny
    model = _load(backend, sources[layout], config=config if layout == "single_safetensors" else None)
    if backend == "torch":
        loaded = {k: v.numpy() for k, v in model.state_dict().items()}
    else:
        from sam_tf.pretrained import model_state

        loaded = model_state(model)
    assert sorted(loaded) == sorted(state)
    for key in state:
        np.testing.assert_array_equal(loaded[key], state[key], err_msg=key)


def test_unknown_keyword_arguments_are_named(sources):
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) 'foo'"):
        SamModel.from_pretrained(sources["bin_dir"], torch_dtype=torch.bfloat16, foo=3)
    with pytest.raises(TypeError, match="dtype or torch_dtype, not both"):
        SamModel.from_pretrained(sources["bin_dir"], dtype="float32", torch_dtype=torch.float32)
    with pytest.raises(ValueError, match="dtype must be one of"):
        SamModel.from_pretrained(sources["bin_dir"], dtype="int8")
    from sam_tf import TFSamModel

    with pytest.raises(TypeError, match=r"TFSamModel.from_pretrained\(\) got unexpected keyword argument\(s\) 'foo'"):
        TFSamModel.from_pretrained(sources["bin_dir"], foo=3)


def test_torch_dtype_loads_in_that_dtype(tiny, sources):
    config, state = tiny
    model = SamModel.from_pretrained(sources["bin_dir"], torch_dtype=torch.float16)
    assert {p.dtype for p in model.parameters()} == {torch.float16}
    key = "mask_decoder.iou_token.weight"
    expected = torch.from_numpy(state[key]).to(torch.float16)
    assert torch.equal(model.state_dict()[key], expected)
    # bfloat16 is the bf16 mode: float32 weights, the encoder's GEMMs in bfloat16 (tests/test_bf16.py)
    model = SamModel.from_pretrained(sources["bin_dir"], torch_dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16 and {p.dtype for p in model.parameters()} == {torch.float32}
    assert torch.equal(model.state_dict()[key], torch.from_numpy(state[key]))
    assert {p.dtype for p in SamModel.from_pretrained(sources["bin_dir"], dtype="auto").parameters()} == {torch.float32}


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    """A pickle that would run code is refused by from_pretrained with the one checkpoint error type."""
    import pickle
    import zipfile

    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"x": Payload()}, protocol=2))
    with pytest.raises(weights.CheckpointError, match="unpickling"):
        SamModel.from_pretrained(path)


def test_torch_tf_torch_keeps_the_key_set_and_values(tiny, sources, tmp_path):
    """SamModel.save_pretrained -> convert to tf -> TFSamModel load + save -> convert to torch: the same keys (the tied
    prompt_encoder.shared_embedding copy included) and bit-identical values; and SamModel reads the Keras file."""
    from sam_tf import TFSamModel

    original = SamModel.from_pretrained(sources["bin_dir"])
    original.save_pretrained(tmp_path / "torch")
    convert(str(tmp_path / "torch"), str(tmp_path / "tf"), ConvertOptions(to="tf", progress=False))
    TFSamModel.from_pretrained(tmp_path / "tf").save_pretrained(tmp_path / "tf_saved")
    convert(str(tmp_path / "tf_saved"), str(tmp_path / "back"), ConvertOptions(to="torch", progress=False))
    before = weights.read_safetensors(tmp_path / "torch" / weights.SAFETENSORS_NAME)
    after = weights.read_safetensors(tmp_path / "back" / weights.SAFETENSORS_NAME)
    assert "prompt_encoder.shared_embedding.positional_embedding" in after
    assert sorted(after) == sorted(before)
    for key in before:
        assert before[key].tobytes() == after[key].tobytes(), key
    reread = SamModel.from_pretrained(tmp_path / "tf_saved").state_dict()
    assert sorted(reread) == sorted(before)
    for key in before:
        np.testing.assert_array_equal(reread[key].numpy(), before[key], err_msg=key)
