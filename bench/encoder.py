"""Benchmark: the ViT-B image encoder, dualsam against transformers, on torch and on TensorFlow, in one run.

Contenders: dualsam-torch and transformers-torch (this process); dualsam-tf eager and dualsam-tf XLA
(``jit_compile=True``; this process, Keras 3); transformers-tf (its TFSamModel needs Keras 2, so it runs in a
worker process, bench/hf_tf_worker.py, timed on request). Runs alternate between all contenders; each reports
the median. Ratios are against the transformers implementation of the same framework; the fraction of the
machine's fp32 matmul peak (measured with torch in the same run, before and after the timed runs, the higher of
the two: the clock of a shared machine varies) uses the analytic FLOP count.

    python bench/encoder.py [--runs 5] [--threads N] [--preset sam-vit-base] [--no-tf]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flops import encoder_flops  # noqa: E402
from peak import fp32_matmul_peak  # noqa: E402

from sam_core import SamConfig  # noqa: E402
from sam_torch import SamModel  # noqa: E402

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_tf_worker.py")
#: contender -> the contender its ratio is taken against
BASELINES = {
    "dualsam-torch": "transformers-torch",
    "transformers-torch": "transformers-torch",
    "dualsam-tf-eager": "transformers-tf",
    "dualsam-tf-xla": "transformers-tf",
    "transformers-tf": "transformers-tf",
}


def _timed(fn: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def _torch_contenders(config: SamConfig, pixels: np.ndarray) -> dict[str, Callable[[], float]]:
    tensor = torch.from_numpy(pixels)
    ours = SamModel(config)
    contenders = {"dualsam-torch": _timed(lambda: ours.get_image_embeddings(tensor))}
    try:
        import transformers

        reference = transformers.SamModel(transformers.SamConfig(**config.to_dict())).eval()
        contenders["transformers-torch"] = _timed(lambda: reference.get_image_embeddings(tensor))
    except ImportError:
        print("transformers is not installed: timing dualsam-torch alone")
    return contenders


def _tf_contenders(config: SamConfig, pixels: np.ndarray, threads: int | None) -> dict[str, Callable[[], float]]:
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    from sam_tf import TFSamModel

    ours = TFSamModel(config)
    tensor = tf.constant(pixels)
    xla = tf.function(ours.get_image_embeddings, jit_compile=True)
    return {
        "dualsam-tf-eager": _timed(lambda: ours.get_image_embeddings(tensor).numpy()),
        "dualsam-tf-xla": _timed(lambda: xla(tensor).numpy()),
    }


class _WorkerContender:
    """transformers' TFSamModel in bench/hf_tf_worker.py; calling it times one run there."""

    def __init__(self, config: SamConfig, threads: int | None) -> None:
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "USE_TF": "AUTO", "USE_TORCH": "AUTO"}
        self.process = subprocess.Popen(
            [sys.executable, WORKER, json.dumps(config.to_dict()), str(threads or 0)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the transformers-tf worker did not start (is tf-keras installed?)")

    def __call__(self) -> float:
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--preset", default="sam-vit-base")
    parser.add_argument("--no-tf", action="store_true", help="time the torch contenders only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = SamConfig.from_preset(args.preset)
    pixels = np.random.default_rng(0).standard_normal((1, 3, 1024, 1024)).astype(np.float32)
    contenders = _torch_contenders(config, pixels)
    worker = None
    if not args.no_tf:
        contenders.update(_tf_contenders(config, pixels, args.threads))
        try:
            worker = _WorkerContender(config, args.threads)
            contenders["transformers-tf"] = worker
        except (RuntimeError, OSError) as error:
            print(f"transformers-tf skipped: {error}")
    peak_before = fp32_matmul_peak()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        with torch.inference_mode():
            for fn in contenders.values():
                fn()  # warm-up (and the XLA compile)
            for _ in range(args.runs):
                for name, fn in contenders.items():
                    times[name].append(fn())
    finally:
        if worker is not None:
            worker.close()
    peak_after = fp32_matmul_peak()
    peak = max(peak_before, peak_after)
    flops = encoder_flops(config.vision_config)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"preset {args.preset}: {flops / 1e9:.1f} GFLOP per image; fp32 matmul peak {peak:.1f} GFLOP/s "
          f"(before {peak_before:.0f}, after {peak_after:.0f}); "
          f"median of {args.runs} alternating runs")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        base = medians.get(BASELINES[name])
        ratio = f"{median / base:5.2f}x {BASELINES[name]}" if base else "  n/a"
        print(f"{name:20s} median {median:7.3f} s  ratio {ratio:28s} "
              f"{flops / median / 1e9:6.1f} GFLOP/s = {100 * flops / median / 1e9 / peak:5.1f}% of peak")


if __name__ == "__main__":
    main()
