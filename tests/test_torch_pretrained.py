"""SamModel checkpoints: save/load round trips, the transformers layout both ways, sharded and .bin files,
the seed documentation's example, and checkpoint errors."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from sam_core import SamImageProcessor, SamProcessor, weights
from sam_torch import SamModel
from tests.helpers.images import synthetic_image
from tests.helpers.sam_weights import tiny_config
from tests.helpers.tolerances import assert_masks_agree, assert_outputs_close
from tests.helpers.twins import make_twins

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A directory written by our save_pretrained (model + processor) and the model that wrote it."""
    directory = tmp_path_factory.mktemp("sam-tiny")
    ours, _, _ = make_twins(tiny_config(), seed=3)
    ours.save_pretrained(directory)
    SamProcessor(SamImageProcessor()).save_pretrained(directory)
    return directory, ours


def _probe(model):
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(1, 3, 1024, 1024, generator=generator)
    with torch.no_grad():
        return model(pixel_values=pixels, input_points=torch.tensor([[[[300.0, 500.0]]]]),
                     input_boxes=torch.tensor([[[100.0, 200.0, 700.0, 900.0]]]))


def test_save_then_load_is_bit_identical(saved):
    directory, ours = saved
    assert sorted(os.listdir(directory)) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    loaded = SamModel.from_pretrained(directory)
    for key, value in ours.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert torch.equal(_probe(ours).pred_masks, _probe(loaded).pred_masks)


def test_transformers_loads_our_directory(saved):
    directory, ours = saved
    reference = transformers.SamModel.from_pretrained(directory).eval()
    ref_out, our_out = _probe(reference), _probe(ours)
    assert_outputs_close(our_out.pred_masks, ref_out.pred_masks, name="pred_masks")
    assert_outputs_close(our_out.iou_scores, ref_out.iou_scores, name="iou_scores")


def test_we_load_a_transformers_directory_with_plain_state_dict_keys(tmp_path):
    _, reference, _ = make_twins(tiny_config(), seed=4)
    reference.save_pretrained(tmp_path)
    loaded = SamModel.from_pretrained(tmp_path)
    assert_outputs_close(_probe(loaded).pred_masks, _probe(reference).pred_masks, name="pred_masks")
    # the canonical keys: a transformers state dict loads with a plain strict load
    fresh = SamModel(loaded.config)
    fresh.load_state_dict(reference.state_dict(), strict=True)


def test_sharded_and_bin_checkpoints(tmp_path, saved):
    directory, ours = saved
    state = {k: v.numpy() for k, v in ours.state_dict().items()}
    ours.config.save_pretrained(tmp_path / "sharded")
    keys = sorted(state)
    halves = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    weight_map = {}
    for file, names in halves.items():
        weights.write_safetensors({k: state[k] for k in names}, tmp_path / "sharded" / file)
        weight_map.update({k: file for k in names})
    (tmp_path / "sharded" / weights.SAFETENSORS_INDEX_NAME).write_text(json.dumps({"weight_map": weight_map}))
    assert torch.equal(_probe(SamModel.from_pretrained(tmp_path / "sharded")).pred_masks, _probe(ours).pred_masks)

    ours.config.save_pretrained(tmp_path / "bin")
    torch.save(ours.state_dict(), tmp_path / "bin" / weights.TORCH_BIN_NAME)
    assert torch.equal(_probe(SamModel.from_pretrained(tmp_path / "bin")).pred_masks, _probe(ours).pred_masks)


class _Payload:
    def __reduce__(self):
        return (print, ("this would run at load time",))


def test_bin_needing_full_unpickling_is_refused(tmp_path, saved):
    _, ours = saved
    ours.config.save_pretrained(tmp_path)
    with open(tmp_path / weights.TORCH_BIN_NAME, "wb") as handle:
        pickle.dump({"vision_encoder.pos_embed": _Payload()}, handle)
    with pytest.raises(ValueError, match="full unpickling"):
        SamModel.from_pretrained(tmp_path)


def _copy_dir(src, dst, state_edit):
    os.makedirs(dst)
    for name in ("config.json",):
        (dst / name).write_bytes((src / name).read_bytes())
    state = weights.read_safetensors(src / weights.SAFETENSORS_NAME)
    state_edit(state)
    weights.write_safetensors(state, dst / weights.SAFETENSORS_NAME)


def test_checkpoint_key_errors_list_every_key(tmp_path, saved):
    directory, _ = saved

    def edit(state):
        del state["mask_decoder.iou_token.weight"]
        state["mask_decoder.extra.weight"] = np.zeros(3, np.float32)
        state["vision_encoder.pos_embed"] = np.zeros((1, 2, 2, 2), np.float32)

    _copy_dir(directory, tmp_path / "bad", edit)
    with pytest.raises(weights.CheckpointError) as info:
        SamModel.from_pretrained(tmp_path / "bad")
    message = str(info.value)
    assert "missing keys (1): mask_decoder.iou_token.weight" in message
    assert "unexpected keys (1): mask_decoder.extra.weight" in message
    assert "vision_encoder.pos_embed: checkpoint (1, 2, 2, 2) vs model (1, 64, 64, 48)" in message
    assert info.value.missing == ["mask_decoder.iou_token.weight"]


def test_truncated_safetensors_is_a_clear_error(tmp_path, saved):
    directory, _ = saved
    os.makedirs(tmp_path / "cut")
    (tmp_path / "cut" / "config.json").write_bytes((directory / "config.json").read_bytes())
    blob = (directory / weights.SAFETENSORS_NAME).read_bytes()
    (tmp_path / "cut" / weights.SAFETENSORS_NAME).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        SamModel.from_pretrained(tmp_path / "cut")


def test_missing_weights_and_hub_ids(tmp_path, saved):
    directory, _ = saved
    os.makedirs(tmp_path / "empty")
    (tmp_path / "empty" / "config.json").write_bytes((directory / "config.json").read_bytes())
    with pytest.raises(weights.CheckpointError, match="holds no weights: looked for model.safetensors"):
        SamModel.from_pretrained(tmp_path / "empty")


def test_seed_documentation_example(saved, tmp_path):
    """The seed's first example with only its imports changed and a local directory for the hub id."""
    directory, _ = saved
    from PIL import Image

    Image.fromarray(synthetic_image(600, 800, seed=9)).save(tmp_path / "car.png")
    # --- the documented example, imports changed ---
    from sam_torch import SamModel, SamProcessor

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SamModel.from_pretrained(directory).to(device)
    processor = SamProcessor.from_pretrained(directory)
    raw_image = Image.open(tmp_path / "car.png").convert("RGB")
    input_points = [[[450, 600]]]  # 2D location of a window in the image
    inputs = processor(raw_image, input_points=input_points, return_tensors="pt").to(device)
    with torch.no_grad():
        outputs = model(**inputs)
    masks = processor.image_processor.post_process_masks(
        outputs.pred_masks.cpu(), inputs["original_sizes"].cpu(), inputs["reshaped_input_sizes"].cpu()
    )
    scores = outputs.iou_scores
    # --- the same with transformers ---
    hf_model = transformers.SamModel.from_pretrained(directory).to(device)
    hf_processor = transformers.SamProcessor.from_pretrained(directory)
    hf_inputs = hf_processor(raw_image, input_points=input_points, return_tensors="pt").to(device)
    with torch.no_grad():
        hf_outputs = hf_model(**hf_inputs)
    hf_masks = hf_processor.image_processor.post_process_masks(
        hf_outputs.pred_masks.cpu(), hf_inputs["original_sizes"].cpu(), hf_inputs["reshaped_input_sizes"].cpu()
    )
    assert_outputs_close(scores, hf_outputs.iou_scores, name="iou_scores")
    assert masks[0].shape == hf_masks[0].shape == (1, 3, 600, 800)
    assert_masks_agree(masks[0], hf_masks[0])
