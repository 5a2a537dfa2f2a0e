"""Drives tests/oracles/meta_oracle.py from the test environment: a tiny informative SAM shared by dualsam and
Meta's segment-anything (through the Meta checkpoint layout), and the subprocess that runs Meta's code.

The reference needs its own environment (.venv-meta: torch 2.14.1 + torchvision + segment-anything); tests that
need it skip with META_SKIP_REASON when it is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
META_PYTHON = os.path.join(REPO, ".venv-meta", "bin", "python")
ORACLE = os.path.join(REPO, "tests", "oracles", "meta_oracle.py")
META_SKIP_REASON = (
    "Meta's segment-anything reference needs .venv-meta: python3 -m venv .venv-meta && .venv-meta/bin/pip install "
    "torch==2.14.1 torchvision==0.29.1 segment-anything numpy pillow safetensors pycocotools opencv-python-headless"
)
#: Small vision tower for these tests: local 8x8 windows only (the encoder is not what is under test here).
AMG_VISION = dict(window_size=8, global_attn_indexes=[])
#: torch.nn.LayerNorm's default, which Meta's TwoWayTransformer uses.
META_DECODER_LAYER_NORM_EPS = 1e-5


def meta_available() -> bool:
    return os.path.exists(META_PYTHON)


def tiny_model(seed: int = 0, *, mask_logit_scale: float = 1.0):
    """(sam_torch SamModel, SamConfig, canonical numpy state): tiny, informative random weights, Meta-equivalent.

    Meta's two-way transformer uses torch's default LayerNorm eps (1e-5) where transformers' config says 1e-6;
    the config here says 1e-5 so that the two implementations compute the same function.

    Args:
        seed: the weights' seed.
        mask_logit_scale: multiplies the hypernetwork output layers, so mask logits are sharper (higher
            stability scores with random weights).
    """
    import torch

    from sam_core import SamConfig
    from sam_torch import SamModel
    from tests.helpers.sam_weights import informative_state, tiny_config

    config = tiny_config(**AMG_VISION).to_dict()
    config["mask_decoder_config"]["layer_norm_eps"] = META_DECODER_LAYER_NORM_EPS
    config = SamConfig(**config)
    model = SamModel(config)
    state = informative_state({k: tuple(v.shape) for k, v in model.state_dict().items()}, seed=seed)
    for key in state:
        if "output_hypernetworks_mlps" in key and key.endswith("proj_out.weight"):
            state[key] = state[key] * np.float32(mask_logit_scale)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return model.eval(), config, state


def tf_twin(config, state: dict[str, np.ndarray]):
    """sam_tf.TFSamModel with the same weights as tiny_model's torch model (skips if sam_tf is unavailable)."""
    import pytest

    sam_tf = pytest.importorskip("sam_tf")
    from sam_tf.pretrained import load_state_into

    model = sam_tf.TFSamModel(config)
    load_state_into(model, state, source="tiny_model")
    return model


def meta_arch(config) -> dict[str, Any]:
    """Constructor sizes of Meta's modules equal to a dualsam SamConfig."""
    vision, prompt, decoder = config.vision_config, config.prompt_encoder_config, config.mask_decoder_config
    return {
        "image_size": vision.image_size,
        "patch_size": vision.patch_size,
        "encoder_embed_dim": vision.hidden_size,
        "encoder_depth": vision.num_hidden_layers,
        "encoder_num_heads": vision.num_attention_heads,
        "encoder_mlp_ratio": vision.mlp_dim / vision.hidden_size,
        "window_size": vision.window_size,
        "global_attn_indexes": list(vision.global_attn_indexes),
        "prompt_embed_dim": prompt.hidden_size,
        "mask_in_chans": prompt.mask_input_channels,
        "decoder_depth": decoder.num_hidden_layers,
        "decoder_mlp_dim": decoder.mlp_dim,
        "decoder_num_heads": decoder.num_attention_heads,
        "iou_head_hidden_dim": decoder.iou_head_hidden_dim,
    }


def _run_oracle(workdir: str, spec: dict) -> tuple[dict[str, np.ndarray], dict]:
    out = os.path.join(workdir, f"meta_out_{len(os.listdir(workdir))}.npz")
    spec = {**spec, "out": out}
    spec_path = out + ".spec.json"
    with open(spec_path, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    result = subprocess.run([META_PYTHON, ORACLE, spec_path], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"Meta oracle failed:\n{result.stderr[-4000:]}")
    with np.load(out) as data:
        arrays = {k: data[k] for k in data.files}
    with open(out + ".json", encoding="utf-8") as handle:
        report = json.load(handle)
    return arrays, report


def run_meta(
    workdir: str, config, state: dict[str, np.ndarray], image: np.ndarray, tasks: list[dict], threads: int = 1
) -> tuple[dict[str, np.ndarray], dict]:
    """Runs Meta's predictor / mask generator on ``image`` with the same weights; returns (arrays, report)."""
    import torch

    from sam_core.weights import canonical_to_meta

    index = len(os.listdir(workdir))
    checkpoint = os.path.join(workdir, f"meta_sam_{index}.pth")
    torch.save({k: torch.from_numpy(v) for k, v in canonical_to_meta(state).items()}, checkpoint)
    image_path = os.path.join(workdir, f"image_{index}.npy")
    np.save(image_path, image)
    spec = {"checkpoint": checkpoint, "arch": meta_arch(config), "image": image_path, "tasks": tasks}
    return _run_oracle(workdir, {**spec, "threads": threads})


def run_meta_functions(workdir: str, tasks: list[tuple[dict, dict[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """Runs reference building blocks (torchvision NMS, Meta's OpenCV region cleaning) on numpy inputs.

    Args:
        workdir: a scratch directory.
        tasks: (task, inputs) pairs; each task's inputs are saved to an .npz that the task names.
    """
    specs = []
    for index, (task, inputs) in enumerate(tasks):
        path = os.path.join(workdir, f"function_input_{index}.npz")
        np.savez(path, **inputs)
        specs.append({**task, "input": path})
    arrays, _ = _run_oracle(workdir, {"tasks": specs})
    return arrays
