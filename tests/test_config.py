"""SamConfig and friends: defaults, presets, validation, config.json round trips with transformers, hub lookup,
and the import-lightness of sam_core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest

from sam_core import SAM_PRESETS, SamConfig, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig
from sam_core.config import CONFIG_NAME
from sam_core.hub import resolve_file

transformers = pytest.importorskip("transformers")

SUB_CONFIGS = {
    "vision_config": SamVisionConfig,
    "prompt_encoder_config": SamPromptEncoderConfig,
    "mask_decoder_config": SamMaskDecoderConfig,
}

#: The sizes of the published checkpoints (facebook/sam-vit-*, nielsr/slimsam-*-uniform on the Hub).
PRESET_VISION = {
    "sam-vit-base": (768, 12, 12, [2, 5, 8, 11], 3072),
    "sam-vit-large": (1024, 24, 16, [5, 11, 17, 23], 4096),
    "sam-vit-huge": (1280, 32, 16, [7, 15, 23, 31], 5120),
    "slimsam-50": (384, 12, 12, [2, 5, 8, 11], 1536),
    "slimsam-77": (168, 12, 12, [2, 5, 8, 11], 696),
}


def assert_same_values(ours: SamConfig, theirs) -> None:
    """Every field of ours equals the attribute of the transformers config, sub-config by sub-config."""
    assert ours.initializer_range == theirs.initializer_range
    for name, cls in SUB_CONFIGS.items():
        mine, other = getattr(ours, name), getattr(theirs, name)
        for field in cls._fields + cls._derived:
            assert getattr(mine, field) == getattr(other, field), f"{name}.{field}"


def test_defaults_match_transformers():
    assert_same_values(SamConfig(), transformers.SamConfig())


@pytest.mark.parametrize("name", sorted(PRESET_VISION))
def test_presets(name):
    config = SamConfig.from_preset(name)
    vision = config.vision_config
    hidden, layers, heads, global_indexes, mlp_dim = PRESET_VISION[name]
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads) == (hidden, layers, heads)
    assert (vision.global_attn_indexes, vision.mlp_dim) == (global_indexes, mlp_dim)
    assert SamConfig.from_pretrained(name) == config
    assert_same_values(config, transformers.SamConfig(**config.to_dict()))


def test_presets_are_not_mutated_by_configs():
    config = SamConfig.from_preset("sam-vit-large")
    config.vision_config.global_attn_indexes.append(0)
    assert SAM_PRESETS["sam-vit-large"]["vision_config"]["global_attn_indexes"] == [5, 11, 17, 23]


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        SamConfig.from_preset("sam-vit-tiny")


@pytest.mark.parametrize("name", ["sam-vit-base", "sam-vit-huge", "slimsam-77"])
def test_ours_to_json_to_transformers(tmp_path, name):
    config = SamConfig.from_preset(name)
    config.save_pretrained(tmp_path / "model")
    theirs = transformers.SamConfig.from_pretrained(tmp_path / "model")
    assert_same_values(config, theirs)
    assert theirs.architectures == ["SamModel"]


@pytest.mark.parametrize(
    "vision",
    [
        {},
        {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
         "global_attn_indexes": [7, 15, 23, 31]},  # fmt: skip
        {"hidden_size": 384, "mlp_dim": 1536},
        {"hidden_size": 96, "mlp_ratio": 2.5, "num_hidden_layers": 3, "global_attn_indexes": [2], "window_size": 7},
    ],
)
def test_transformers_to_json_to_ours(tmp_path, vision):
    theirs = transformers.SamConfig(
        vision_config=vision,
        prompt_encoder_config={"mask_input_channels": 8},
        mask_decoder_config={"mlp_dim": 1024, "iou_head_depth": 4},
        initializer_range=0.01,
    )
    theirs.save_pretrained(tmp_path)
    ours = SamConfig.from_pretrained(tmp_path)
    assert_same_values(ours, theirs)
    # And back again: our rewrite reads into transformers with the same values.
    ours.save_pretrained(tmp_path / "again")
    assert_same_values(ours, transformers.SamConfig.from_pretrained(tmp_path / "again"))


def test_hub_style_config_with_unknown_keys(tmp_path):
    """Hub files from older transformers carry model_type "" and extra keys (dropout, intermediate_size, ...)."""
    hub_style = {
        "_name_or_path": "nielsr/slimsam-50-uniform",
        "architectures": ["SamModel"],
        "initializer_range": 0.02,
        "mask_decoder_config": {"model_type": "", "id2label": {"0": "LABEL_0"}},
        "model_type": "sam",
        "prompt_encoder_config": {"model_type": ""},
        "torch_dtype": "float32",
        "transformers_version": "4.36.2",
        "vision_config": {
            "dropout": 0.0, "hidden_size": 384, "intermediate_size": 6144, "mlp_dim": 1536, "model_type": ""
        },  # fmt: skip
    }
    (tmp_path / CONFIG_NAME).write_text(json.dumps(hub_style))
    ours = SamConfig.from_pretrained(tmp_path)
    assert (ours.vision_config.hidden_size, ours.vision_config.mlp_dim) == (384, 1536)
    assert ours.vision_config.extra == {"dropout": 0.0, "intermediate_size": 6144}
    assert ours.mask_decoder_config.extra == {"id2label": {"0": "LABEL_0"}}
    assert ours.extra == {"torch_dtype": "float32"}
    ours.save_pretrained(tmp_path / "out")
    written = json.loads((tmp_path / "out" / CONFIG_NAME).read_text())
    assert written["vision_config"]["intermediate_size"] == 6144 and written["torch_dtype"] == "float32"
    assert written["model_type"] == "sam" and written["vision_config"]["model_type"] == "sam_vision_model"
    assert_same_values(ours, transformers.SamConfig.from_pretrained(tmp_path / "out"))
    assert SamConfig.from_pretrained(tmp_path / "out") == ours


def test_dict_round_trip_and_sub_config_instances():
    vision = SamVisionConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, global_attn_indexes=[1])
    config = SamConfig(vision_config=vision, mask_decoder_config={"num_multimask_outputs": 2}, custom_key=[1, 2])
    assert config.vision_config == vision and config.vision_config is not vision
    assert config.vision_config.mlp_dim == 256  # int(hidden_size * mlp_ratio)
    assert config.prompt_encoder_config.image_embedding_size == 64
    assert config.extra == {"custom_key": [1, 2]}
    assert SamConfig.from_dict(config.to_dict()) == config
    assert SamConfig(**json.loads(config.to_json_string())) == config
    assert SamVisionConfig.from_dict(vision.to_dict()) == vision
    assert config != SamConfig()


def test_numpy_integers_become_ints():
    import numpy as np

    config = SamConfig(vision_config={"hidden_size": np.int64(384), "global_attn_indexes": np.array([2, 5])})
    assert type(config.vision_config.hidden_size) is int and config.vision_config.global_attn_indexes == [2, 5]
    json.loads(config.to_json_string())


def test_save_pretrained_is_atomic_and_overwrites(tmp_path):
    target = tmp_path / "new" / "dir"
    SamConfig.from_preset("sam-vit-huge").save_pretrained(target)
    SamConfig().save_pretrained(target)
    assert os.listdir(target) == [CONFIG_NAME]
    assert SamConfig.from_pretrained(target) == SamConfig()
    assert SamConfig.from_pretrained(target / CONFIG_NAME) == SamConfig()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"vision_config": {"hidden_size": 100, "num_attention_heads": 12}}, "hidden_size"),
        ({"vision_config": {"image_size": 1000}}, "image_size"),
        ({"vision_config": {"global_attn_indexes": [2, 5, 8, 12]}}, "global_attn_indexes"),
        ({"vision_config": {"global_attn_indexes": [-1]}}, "global_attn_indexes"),
        ({"vision_config": {"num_hidden_layers": 0}}, "num_hidden_layers"),
        ({"vision_config": {"hidden_size": -768}}, "hidden_size"),
        ({"vision_config": {"patch_size": 0}}, "patch_size"),
        ({"vision_config": {"mlp_dim": 0}}, "mlp_dim"),
        ({"vision_config": {"mlp_ratio": -1.0}}, "mlp_ratio"),
        ({"vision_config": {"num_attention_heads": 2.5}}, "num_attention_heads"),
        ({"vision_config": {"layer_norm_eps": 0}}, "layer_norm_eps"),
        ({"mask_decoder_config": {"num_attention_heads": 7}}, "num_attention_heads"),
        ({"mask_decoder_config": {"num_attention_heads": 256}}, "num_attention_heads"),
        ({"mask_decoder_config": {"iou_head_depth": 1}}, "iou_head_depth"),
        ({"mask_decoder_config": {"mlp_dim": 0}}, "mlp_dim"),
        ({"prompt_encoder_config": {"patch_size": 24}}, "image_size"),
        ({"prompt_encoder_config": {"hidden_size": 0}}, "hidden_size"),
        ({"vision_config": {"output_channels": 128}}, "output_channels"),
        ({"vision_config": {"num_pos_feats": 64}}, "num_pos_feats"),
        ({"prompt_encoder_config": {"patch_size": 32, "image_size": 1024}}, "image_embedding|patch_size"),
    ],
)
def test_invalid_configs_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SamConfig(**kwargs)


def test_wrong_sub_config_type_and_model_type(tmp_path):
    with pytest.raises(TypeError, match="vision_config"):
        SamConfig(vision_config=SamMaskDecoderConfig())
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"model_type": "sam2"}))
    with pytest.raises(ValueError, match="model_type"):
        SamConfig.from_pretrained(tmp_path)


# ----------------------------------------------------------------------------------------- hub


def test_resolve_file_local(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    assert resolve_file(tmp_path, "a.json") == os.path.join(tmp_path, "a.json")
    assert resolve_file(tmp_path, "missing.json", required=False) is None
    with pytest.raises(FileNotFoundError, match=f"missing.json.*{tmp_path}"):
        resolve_file(tmp_path, "missing.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_file(tmp_path / "nope", "a.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SamConfig.from_pretrained("./no/such/dir")


class _EntryNotFoundError(Exception):
    pass


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A stand-in huggingface_hub that serves files from tmp_path and records its calls (no network)."""
    calls = []

    def hf_hub_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename, kwargs))
        path = tmp_path / filename
        if not path.exists():
            raise _EntryNotFoundError(filename)
        return str(path)

    module = types.ModuleType("huggingface_hub")
    module.hf_hub_download = hf_hub_download
    module.errors = types.SimpleNamespace(EntryNotFoundError=_EntryNotFoundError)
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    return tmp_path, calls


def test_hub_id_goes_through_hf_hub_download(fake_hub):
    folder, calls = fake_hub
    SamConfig.from_preset("sam-vit-large").save_pretrained(folder)
    config = SamConfig.from_pretrained("facebook/sam-vit-large", revision="main")
    assert config == SamConfig.from_preset("sam-vit-large")
    assert calls == [("facebook/sam-vit-large", CONFIG_NAME, {"revision": "main"})]
    assert resolve_file("facebook/sam-vit-large", "model.safetensors", required=False) is None
    with pytest.raises(_EntryNotFoundError):
        resolve_file("facebook/sam-vit-large", "model.safetensors")


def test_hub_id_without_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match=r"pip install 'dualsam\[hub\]'"):
        SamConfig.from_pretrained("facebook/sam-vit-base")


# ----------------------------------------------------------------------------------------- import lightness


def test_import_sam_core_does_not_import_frameworks():
    code = (
        "import sys, sam_core, sam_core.tensors, sam_core.validation, sam_core.hub\n"
        "p = sam_core.SamProcessor()\n"
        "import numpy as np\n"
        "p(np.zeros((8, 9, 3), np.uint8), input_points=[[[1, 2]]], return_tensors='np')\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'transformers', 'huggingface_hub') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
