"""TFSamModel checkpoints: save/load round trips, torch-format safetensors (single and sharded), checkpoint errors
listing every key, and atomic writes."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
import torch

from sam_core import weights
from sam_core.h5_layout import read_keras_h5, write_keras_h5
from sam_tf import TFSamModel
from sam_tf.pretrained import model_state
from tests.helpers.sam_weights import tiny_config
from tests.helpers.tf_twins import make_tf_twins
from tests.helpers.tolerances import assert_outputs_close


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Our save_pretrained directory, the model that wrote it, and its torch twin."""
    directory = tmp_path_factory.mktemp("sam-tf-tiny")
    ours, reference, _ = make_tf_twins(tiny_config(), seed=3)
    ours.save_pretrained(directory)
    return directory, ours, reference


def _probe(model):
    rng = np.random.default_rng(0)
    pixels = rng.standard_normal((1, 3, 1024, 1024)).astype(np.float32)
    return model(pixel_values=pixels, input_points=np.array([[[[300.0, 500.0]]]], np.float32),
                 input_boxes=np.array([[[100.0, 200.0, 700.0, 900.0]]], np.float32))


def test_save_then_load_is_bit_identical(saved):
    directory, ours, _ = saved
    assert sorted(os.listdir(directory)) == ["config.json", weights.TF_H5_NAME]
    with h5py.File(directory / weights.TF_H5_NAME, "r") as handle:
        assert "layer_names" in handle.attrs
        assert "vision_encoder/tf_sam_model/vision_encoder/layers_._0/attn/qkv/kernel:0" in handle
    loaded = TFSamModel.from_pretrained(directory)
    for a, b in zip(ours.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(_probe(ours).pred_masks.numpy(), _probe(loaded).pred_masks.numpy())


def test_torch_format_safetensors_loads_in_memory(saved, tmp_path):
    _, ours, reference = saved
    reference.save_pretrained(tmp_path)
    loaded = TFSamModel.from_pretrained(tmp_path)
    state = model_state(loaded)
    for key, value in reference.state_dict().items():
        np.testing.assert_array_equal(state[key], value.numpy(), err_msg=key)
    with torch.no_grad():
        ref_out = reference(pixel_values=torch.from_numpy(np.random.default_rng(0).standard_normal(
            (1, 3, 1024, 1024)).astype(np.float32)), input_points=torch.tensor([[[[300.0, 500.0]]]]),
            input_boxes=torch.tensor([[[100.0, 200.0, 700.0, 900.0]]]))
    assert_outputs_close(_probe(loaded).pred_masks, ref_out.pred_masks, name="pred_masks")


def test_sharded_safetensors(saved, tmp_path):
    _, ours, _ = saved
    state = model_state(ours)
    ours.config.save_pretrained(tmp_path)
    keys = sorted(state)
    halves = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    weight_map = {}
    for file, names in halves.items():
        weights.write_safetensors({k: state[k] for k in names}, tmp_path / file)
        weight_map.update({k: file for k in names})
    (tmp_path / weights.SAFETENSORS_INDEX_NAME).write_text(json.dumps({"weight_map": weight_map}))
    np.testing.assert_array_equal(_probe(TFSamModel.from_pretrained(tmp_path)).pred_masks.numpy(),
                                  _probe(ours).pred_masks.numpy())


def _edited_copy(directory, target, edit):
    os.makedirs(target)
    (target / "config.json").write_bytes((directory / "config.json").read_bytes())
    groups = read_keras_h5(directory / weights.TF_H5_NAME)
    edit(groups)
    write_keras_h5(groups, target / weights.TF_H5_NAME)


def test_h5_key_errors_list_every_key(saved, tmp_path):
    directory, _, _ = saved

    def edit(groups):
        del groups["mask_decoder"]["tf_sam_model/mask_decoder/iou_token.weight:0"]
        groups["mask_decoder"]["tf_sam_model/mask_decoder/extra/kernel:0"] = np.zeros((3, 3), np.float32)
        groups["vision_encoder"]["tf_sam_model/vision_encoder/pos_embed:0"] = np.zeros((1, 2, 2, 2), np.float32)

    _edited_copy(directory, tmp_path / "bad", edit)
    with pytest.raises(weights.CheckpointError) as info:
        TFSamModel.from_pretrained(tmp_path / "bad")
    message = str(info.value)
    assert "missing keys (1): mask_decoder.iou_token.weight" in message
    assert "unexpected keys (1): mask_decoder/tf_sam_model/mask_decoder/extra/kernel:0" in message
    assert "vision_encoder.pos_embed: checkpoint (1, 2, 2, 2) vs model (1, 64, 64, 48)" in message


def test_unmappable_h5_names_are_listed(saved, tmp_path):
    directory, _, _ = saved

    def edit(groups):
        groups["mask_decoder"]["tf_sam_model/mask_decoder/not a layer:0"] = np.zeros(1, np.float32)
        groups["extra_layer"] = {"tf_sam_model/extra_layer/w:0": np.zeros(1, np.float32)}

    _edited_copy(directory, tmp_path / "odd", edit)
    with pytest.raises(weights.CheckpointError, match=r"unexpected keys \(2\): extra_layer/.*, mask_decoder/"):
        TFSamModel.from_pretrained(tmp_path / "odd")


def test_kernel_shape_mismatch_reports_canonical_shapes(saved, tmp_path):
    directory, _, _ = saved

    def edit(groups):
        name = "tf_sam_model/vision_encoder/layers_._0/attn/qkv/kernel:0"
        groups["vision_encoder"][name] = np.zeros((48, 12), np.float32)

    _edited_copy(directory, tmp_path / "shape", edit)
    with pytest.raises(weights.CheckpointError, match=r"qkv.weight: checkpoint \(12, 48\) vs model \(144, 48\)"):
        TFSamModel.from_pretrained(tmp_path / "shape")


def test_truncated_and_missing_files(saved, tmp_path):
    directory, _, _ = saved
    os.makedirs(tmp_path / "cut")
    (tmp_path / "cut" / "config.json").write_bytes((directory / "config.json").read_bytes())
    blob = (directory / weights.TF_H5_NAME).read_bytes()
    (tmp_path / "cut" / weights.TF_H5_NAME).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        TFSamModel.from_pretrained(tmp_path / "cut")
    os.remove(tmp_path / "cut" / weights.TF_H5_NAME)
    with pytest.raises(weights.CheckpointError, match="holds no weights: looked for .*tf_model.h5"):
        TFSamModel.from_pretrained(tmp_path / "cut")


def test_save_is_atomic(saved, tmp_path, monkeypatch):
    directory, ours, _ = saved
    ours.save_pretrained(tmp_path)
    before = (tmp_path / weights.TF_H5_NAME).read_bytes()

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        ours.save_pretrained(tmp_path)
    assert (tmp_path / weights.TF_H5_NAME).read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["config.json", weights.TF_H5_NAME]
