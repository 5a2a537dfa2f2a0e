"""Benchmark: the ViT-B image encoder, dualsam (torch) against transformers' SamModel, in one process.

Runs alternate between the implementations; each reports the median. Prints the time ratio and our fraction of
the machine's fp32 matmul peak, measured in the same run.

    python bench/encoder.py [--runs 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flops import encoder_flops  # noqa: E402
from peak import fp32_matmul_peak  # noqa: E402

from sam_core import SamConfig  # noqa: E402
from sam_torch import SamModel  # noqa: E402


def _transformers_encoder(config: SamConfig):
    import transformers

    model = transformers.SamModel(transformers.SamConfig(**config.to_dict())).eval()
    return lambda pixels: model.get_image_embeddings(pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--preset", default="sam-vit-base")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = SamConfig.from_preset(args.preset)
    pixels = torch.randn(1, 3, 1024, 1024)
    ours = SamModel(config)
    contenders = {"dualsam-torch": lambda p: ours.get_image_embeddings(p)}
    try:
        contenders["transformers-torch"] = _transformers_encoder(config)
    except ImportError:
        print("transformers is not installed: timing dualsam alone")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with torch.inference_mode():
        for fn in contenders.values():
            fn(pixels)  # warm-up
        for _ in range(args.runs):
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn(pixels)
                times[name].append(time.perf_counter() - start)
    peak = fp32_matmul_peak()
    flops = encoder_flops(config.vision_config)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"preset {args.preset}: {flops / 1e9:.1f} GFLOP per image; fp32 matmul peak {peak:.1f} GFLOP/s")
    base = statistics.median(times.get("transformers-torch", times["dualsam-torch"]))
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:22s} median {median:7.3f} s  ratio {median / base:5.2f}x  "
              f"{flops / median / 1e9:6.1f} GFLOP/s = {100 * flops / median / 1e9 / peak:5.1f}% of peak")


if __name__ == "__main__":
    main()
