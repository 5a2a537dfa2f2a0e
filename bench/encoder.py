"""Benchmark: the ViT-B image encoder, dualsam against transformers, on torch and on TensorFlow, in one run.

Contenders (informative random weights, one 1024^2 image):

- this process, torch: dualsam-torch (fp32, its linears on the faster GEMM: sam_torch.fast_gemm, mode from
  DUALSAM_FAST_GEMM), dualsam-torch-mkl (the same model with fast_gemm off: torch's default GEMM),
  dualsam-torch-bf16 (``from_pretrained(..., dtype="bfloat16")``) and transformers-torch;
- this process, Keras 3: dualsam-tf eager, dualsam-tf graph (a ``tf.function``, as ``sam_tf.backend.ModelGraphs``
  runs the encoder for the predictor and the mask generator after their first ten images), dualsam-tf XLA
  (``jit_compile=True``), and dualsam-tf-bf16 eager and as a graph;
- transformers-tf: its TFSamModel needs Keras 2, so it runs in a worker process (bench/hf_tf_worker.py), timed
  on request, eagerly and as a ``tf.function`` (transformers-tf-graph): like against like.

Runs alternate between all contenders; each reports the median. Ratios are against the baseline named in the
row. The machine's best fp32 and bf16 GEMM rates are measured in the same run (bench/peak.py: torch default,
torch oneDNN, TensorFlow, numpy; before and after the timed runs, the higher of the two: the clock of a shared
machine varies), and each contender's rate (analytic FLOPs, bench/flops.py) is given as a share of the best rate
of its dtype. A contender that cannot be built here is skipped with a printed reason.

    python bench/encoder.py [--runs 5] [--threads N] [--preset sam-vit-base] [--no-tf] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flops import encoder_flops  # noqa: E402
from machine import load_line, machine_line  # noqa: E402
from peak import best_rate, best_rates, format_rates, gemm_rates  # noqa: E402

from sam_core import SamConfig  # noqa: E402
from sam_torch import SamModel, fast_gemm  # noqa: E402

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_tf_worker.py")
#: contender -> the contender its ratio is taken against
BASELINES = {
    "dualsam-torch": "transformers-torch",
    "dualsam-torch-mkl": "dualsam-torch",
    "dualsam-torch-bf16": "dualsam-torch",
    "transformers-torch": "transformers-torch",
    "dualsam-tf-eager": "transformers-tf",
    "dualsam-tf-graph": "transformers-tf-graph",
    "dualsam-tf-xla": "transformers-tf",
    "dualsam-tf-bf16": "dualsam-tf-eager",
    "dualsam-tf-graph-bf16": "dualsam-tf-graph",
    "transformers-tf": "transformers-tf",
    "transformers-tf-graph": "transformers-tf-graph",
}


def _timed(fn: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def _dtype(name: str) -> str:
    return "bfloat16" if name.endswith("-bf16") else "float32"


def _bf16_twin(cls: type, model: object, directory: str) -> object:
    """``cls.from_pretrained(..., dtype="bfloat16")`` of ``model``'s weights (saved to ``directory`` first)."""
    model.save_pretrained(directory)
    return cls.from_pretrained(directory, dtype="bfloat16")


def _without_fast_gemm(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        with fast_gemm.use_mode("off"):
            return fn()

    return run


def _torch_contenders(config: SamConfig, pixels: np.ndarray, scratch: str) -> dict[str, Callable[[], float]]:
    tensor = torch.from_numpy(pixels)
    ours = SamModel(config)
    contenders = {
        "dualsam-torch": _timed(lambda: ours.get_image_embeddings(tensor)),
        "dualsam-torch-mkl": _timed(_without_fast_gemm(lambda: ours.get_image_embeddings(tensor))),
    }
    try:
        bf16 = _bf16_twin(SamModel, ours, os.path.join(scratch, "torch"))
        contenders["dualsam-torch-bf16"] = _timed(lambda: bf16.get_image_embeddings(tensor))
    except (TypeError, ValueError, NotImplementedError) as error:
        print(f"dualsam-torch-bf16 skipped: from_pretrained(dtype='bfloat16') failed: {error}")
    try:
        import transformers

        reference = transformers.SamModel(transformers.SamConfig(**config.to_dict())).eval()
        contenders["transformers-torch"] = _timed(lambda: reference.get_image_embeddings(tensor))
    except ImportError:
        print("transformers is not installed: timing dualsam-torch alone")
    return contenders


def _tf_contenders(config: SamConfig, pixels: np.ndarray, scratch: str) -> dict[str, Callable[[], float]]:
    import tensorflow as tf

    from sam_tf import TFSamModel

    ours = TFSamModel(config)
    tensor = tf.constant(pixels)
    xla = tf.function(ours.get_image_embeddings, jit_compile=True)
    graph = _encoder_graph(ours, config)
    contenders = {
        "dualsam-tf-eager": _timed(lambda: ours.get_image_embeddings(tensor).numpy()),
        "dualsam-tf-graph": _timed(lambda: graph(tensor).numpy()),
        "dualsam-tf-xla": _timed(lambda: xla(tensor).numpy()),
    }
    try:
        bf16 = _bf16_twin(TFSamModel, ours, os.path.join(scratch, "tf"))
        bf16_graph = _encoder_graph(bf16, config)
        contenders["dualsam-tf-bf16"] = _timed(lambda: bf16.get_image_embeddings(tensor).numpy())
        contenders["dualsam-tf-graph-bf16"] = _timed(lambda: bf16_graph(tensor).numpy())
    except (TypeError, ValueError, NotImplementedError) as error:
        print(f"dualsam-tf-bf16 skipped: from_pretrained(dtype='bfloat16') failed: {error}")
    return contenders


def _encoder_graph(model: object, config: SamConfig) -> Callable:
    """The encoder graph that the Keras backend runs after its first ENCODER_EAGER_CALLS images
    (``sam_tf.backend.ModelGraphs.encoder``; traced on its first call)."""
    from sam_tf import backend

    graphs = backend.ModelGraphs(model)  # a fresh one, not shared with a predictor's
    for _ in range(backend.ENCODER_EAGER_CALLS + 1):  # asking counts a call; the last answer is the graph
        encoder = graphs.encoder(config.vision_config.image_size)
    return encoder


class _WorkerContender:
    """transformers' TFSamModel in bench/hf_tf_worker.py; calling it times one run there (``mode``: "run" eagerly,
    "graph" as a tf.function); ``graph()`` is a contender timing the latter on the same worker."""

    def __init__(self, config: SamConfig, threads: int | None) -> None:
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "USE_TF": "AUTO", "USE_TORCH": "AUTO"}
        self.process = subprocess.Popen(
            [sys.executable, WORKER, json.dumps(config.to_dict()), str(threads or 0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the transformers-tf worker did not start (is tf-keras installed?)")

    def __call__(self, mode: str = "run") -> float:
        self.process.stdin.write(f"{mode}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def graph(self) -> float:
        return self("graph")

    def close(self) -> None:
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)


def _report(times: dict[str, list[float]], flops: float, rates: list, runs: int) -> None:
    best = {dtype: best_rate(rates, dtype) for dtype in ("float32", "bfloat16")}
    print(
        f"{flops / 1e9:.1f} GFLOP per image; median of {runs} alternating runs; share of the best GEMM rate "
        f"of the contender's dtype (fp32 {best['float32'].gflops:.0f}, bf16 {best['bfloat16'].gflops:.0f} GFLOP/s)"
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'contender':20s} {'dtype':9s} {'median s':>9s}  {'ratio':34s} {'GFLOP/s':>8s} {'% best GEMM':>12s}")
    for name, median in medians.items():
        base = medians.get(BASELINES[name])
        ratio = f"{median / base:5.2f}x {BASELINES[name]}" if base else "  n/a"
        rate = flops / median / 1e9
        share = 100 * rate / best[_dtype(name)].gflops
        print(f"{name:20s} {_dtype(name):9s} {median:9.3f}  {ratio:34s} {rate:8.1f} {share:11.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--preset", default="sam-vit-base")
    parser.add_argument("--no-tf", action="store_true", help="time the torch contenders only")
    parser.add_argument("--only", default=None, help="comma-separated contender names to time (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.threads and not args.no_tf:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    config = SamConfig.from_preset(args.preset)
    pixels = np.random.default_rng(0).standard_normal((1, 3, 1024, 1024)).astype(np.float32)
    print(machine_line())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fast_gemm mode {fast_gemm.get_mode()}")
    print(load_line("before"))
    worker = None
    with tempfile.TemporaryDirectory() as scratch:
        contenders = _torch_contenders(config, pixels, scratch)
        if not args.no_tf:
            contenders.update(_tf_contenders(config, pixels, scratch))
            try:
                worker = _WorkerContender(config, args.threads)
                contenders["transformers-tf"] = worker
                contenders["transformers-tf-graph"] = worker.graph
            except (RuntimeError, OSError) as error:
                print(f"transformers-tf skipped: {error}")
    if args.only:
        contenders = {name: fn for name, fn in contenders.items() if name in args.only.split(",")}
    rates_before = gemm_rates(with_tf=not args.no_tf)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        with torch.inference_mode():
            for fn in contenders.values():
                fn()  # warm-up (the XLA compile, fast_gemm's measurements)
            for _ in range(args.runs):
                for name, fn in contenders.items():
                    times[name].append(fn())
    finally:
        if worker is not None:
            worker.close()
    rates = best_rates(rates_before, gemm_rates(with_tf=not args.no_tf))
    print(load_line("after"))
    print(format_rates(rates))
    print(f"fast_gemm choices (K, N, row bucket, threads -> oneDNN): {fast_gemm.decisions()}")
    _report(times, encoder_flops(config.vision_config), rates, args.runs)


if __name__ == "__main__":
    main()
