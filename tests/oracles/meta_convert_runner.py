"""Drives tests/oracles/meta_convert_oracle.py: Meta's segment-anything makes a random informative checkpoint
(its own ``state_dict()`` saved as .pth) and answers prompts with it, for the converter's parity tests."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np

from tests.oracles.meta_runner import META_PYTHON, REPO, meta_arch

#: Run as a module from the repository root, so that it imports its sibling as tests.oracles.meta_oracle.
CONVERT_ORACLE = "tests.oracles.meta_convert_oracle"


def meta_checkpoint_and_outputs(
    workdir: str, config, image: np.ndarray, tasks: list[dict], *, seed: int = 0, registry: str | None = None,
    threads: int = 1, timeout: int = 1800,
) -> tuple[str, dict[str, np.ndarray]]:  # fmt: skip
    """Runs Meta's code: builds Sam for ``config`` (or ``registry``, e.g. "vit_b"), saves its state_dict, runs tasks.

    Args:
        workdir: scratch directory; the checkpoint is written there as ``meta_sam.pth``.
        config: a dualsam SamConfig with the same sizes (gives Meta's constructor arguments).
        image: (H, W, 3) uint8 image for the predictor tasks.
        tasks: meta_oracle task dicts (embedding, predict, predict_torch).
        seed: the random weights' seed.
        registry: build with ``sam_model_registry[registry]`` instead of the sizes.
        threads: torch threads in the reference process.
        timeout: seconds before the reference process is killed.

    Returns:
        (checkpoint path, output arrays named "task/field").
    """
    checkpoint = os.path.join(workdir, "meta_sam.pth")
    image_path, out = os.path.join(workdir, "image.npy"), os.path.join(workdir, "meta_out.npz")
    np.save(image_path, image)
    spec = {
        "arch": meta_arch(config), "registry": registry, "seed": seed, "checkpoint": checkpoint, "image": image_path,
        "tasks": tasks, "out": out, "threads": threads,
    }  # fmt: skip
    spec_path = os.path.join(workdir, "meta_spec.json")
    with open(spec_path, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    result = subprocess.run(
        [META_PYTHON, "-m", CONVERT_ORACLE, spec_path], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )
    if result.returncode != 0:
        raise RuntimeError(f"Meta convert oracle failed:\n{result.stderr[-4000:]}")
    with np.load(out) as data:
        return checkpoint, {k: data[k] for k in data.files}
