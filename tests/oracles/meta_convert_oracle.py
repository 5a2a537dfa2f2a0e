"""Meta's segment-anything as the reference for the weight converter, run in .venv-meta.

Usage: ``.venv-meta/bin/python tests/oracles/meta_convert_oracle.py spec.json``. Unlike meta_oracle.py, whose
checkpoints come from dualsam's side, this script makes the checkpoint itself: it builds Meta's ``Sam`` (from
``segment_anything.sam_model_registry[spec["registry"]]`` when given, e.g. "vit_b", else from ``spec["arch"]``),
gives it informative random weights, saves ``sam.state_dict()`` to ``spec["checkpoint"]`` with ``torch.save``, and
then runs meta_oracle's tasks on that file (reloaded strictly by Meta's own modules).

Informative weights are chosen by module type, never by name: linear and conv weights N(0, 1/fan_in), biases
N(0, 0.02), layer-norm weights 1 + N(0, 0.1), embeddings N(0, 1), absolute positions N(0, 0.02), relative positions
N(0, 0.1), the Fourier matrix N(0, 1); the hypernetwork output layers are scaled by 4 for sharp mask logits.

This file runs only in the reference environment; it imports nothing from dualsam.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from segment_anything import sam_model_registry
from segment_anything.modeling.common import LayerNorm2d

from tests.oracles.meta_oracle import new_sam, run_model_tasks

_MATRICES = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)


@torch.no_grad()
def randomize(sam: torch.nn.Module, seed: int) -> None:
    """Informative random weights for every parameter and buffer of Meta's Sam (by module type)."""
    generator = torch.Generator().manual_seed(seed)

    def normal(tensor: torch.Tensor, std: float, mean: float = 0.0) -> None:
        tensor.copy_(mean + std * torch.randn(tensor.shape, generator=generator))

    for _, module in sam.named_modules():
        if isinstance(module, _MATRICES):
            normal(module.weight, float(module.weight[0].numel()) ** -0.5)
            if module.bias is not None:
                normal(module.bias, 0.02)
        elif isinstance(module, (torch.nn.LayerNorm, LayerNorm2d)):
            normal(module.weight, 0.1, mean=1.0)
            normal(module.bias, 0.02)
        elif isinstance(module, torch.nn.Embedding):
            normal(module.weight, 1.0)
    for name, tensor in list(sam.named_parameters()) + list(sam.named_buffers()):
        if name.endswith("pos_embed"):
            normal(tensor, 0.02)
        elif name.endswith(("rel_pos_h", "rel_pos_w")):
            normal(tensor, 0.1)
        elif name.endswith("positional_encoding_gaussian_matrix"):
            normal(tensor, 1.0)
    for mlp in sam.mask_decoder.output_hypernetworks_mlps:
        mlp.layers[-1].weight.mul_(4.0)


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    torch.set_num_threads(spec.get("threads", 1))
    sam = sam_model_registry[spec["registry"]]() if spec.get("registry") else new_sam(spec["arch"])
    randomize(sam, spec.get("seed", 0))
    torch.save(sam.state_dict(), spec["checkpoint"])
    del sam
    arrays: dict[str, np.ndarray] = {}
    report: dict = {}
    torch.manual_seed(0)
    run_model_tasks(spec, spec["tasks"], arrays, report)
    np.savez(spec["out"], **arrays)
    with open(spec["out"] + ".json", "w", encoding="utf-8") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main(sys.argv[1])
