"""The machine's best fp32 and bf16 GEMM rates, measured in the running process by every library at hand.

Libraries: torch's default matmul (the BLAS it was built with: MKL in the pip wheels), torch's oneDNN linear
(``torch.ops.mkldnn._linear_pointwise``, plain and with prepacked weights), TensorFlow's matmul (oneDNN) and
numpy's BLAS (OpenBLAS; no bfloat16). Shapes: a 2048^3 product and ViT-B's MLP linear, (4096, 768) x (768, 3072).
A rate is the best of a few timed calls after a warm-up; the libraries take turns, with a pause between them
(idle BLAS and OpenMP threads spin for a while and would slow the next library down on a small machine).

    python bench/peak.py [--repeats 5] [--threads N] [--no-tf]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import load_line, machine_line  # noqa: E402

#: name -> (M, K, N): an (M, K) x (K, N) product, 2*M*K*N FLOPs.
SHAPES = {"2048^3": (2048, 2048, 2048), "ViT-B linear": (4096, 768, 3072)}
DTYPES = ("float32", "bfloat16")
#: Seconds of rest between libraries (spinning idle threads of the previous one).
PAUSE_S = 0.2

Product = Callable[[], object]


@dataclass
class GemmRate:
    """One library's rate on one shape and dtype; ``gflops`` is None (and ``skipped`` says why) when not run."""

    library: str
    dtype: str
    shape: str
    gflops: float | None = None
    skipped: str = ""


def _torch_operands(m: int, k: int, n: int, dtype: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(m, k, generator=generator).to(getattr(torch, dtype))
    weight = torch.randn(n, k, generator=generator).to(getattr(torch, dtype))  # (N, K), as nn.Linear holds it
    return inputs, weight


def _torch_default(m: int, k: int, n: int, dtype: str) -> Product:
    inputs, weight = _torch_operands(m, k, n, dtype)
    return lambda: torch.nn.functional.linear(inputs, weight)


def _torch_onednn(m: int, k: int, n: int, dtype: str) -> Product:
    inputs, weight = _torch_operands(m, k, n, dtype)
    return lambda: torch.ops.mkldnn._linear_pointwise(inputs, weight, None, "none", [], "")


def _torch_onednn_packed(m: int, k: int, n: int, dtype: str) -> Product:
    inputs, weight = _torch_operands(m, k, n, dtype)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, m)
    return lambda: torch.ops.mkldnn._linear_pointwise(inputs, packed, None, "none", [], "")


def _tensorflow(m: int, k: int, n: int, dtype: str) -> Product:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    inputs = tf.cast(tf.constant(rng.standard_normal((m, k), dtype=np.float32)), dtype)
    kernel = tf.cast(tf.constant(rng.standard_normal((k, n), dtype=np.float32)), dtype)  # (K, N), as Dense holds it
    return lambda: tf.matmul(inputs, kernel)  # eager CPU ops return when done


def _numpy(m: int, k: int, n: int, dtype: str) -> Product:
    if dtype != "float32":
        raise NotImplementedError("numpy has no bfloat16 GEMM")
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((m, k), dtype=np.float32)
    kernel = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    return lambda: np.matmul(inputs, kernel, out=out)


#: library name -> operand builder; a builder raises to skip (its message is the reason).
LIBRARIES: dict[str, Callable[[int, int, int, str], Product]] = {
    "torch default": _torch_default,
    "torch oneDNN": _torch_onednn,
    "torch oneDNN packed": _torch_onednn_packed,
    "tensorflow": _tensorflow,
    "numpy": _numpy,
}


def _rate(product: Product, flops: float, repeats: int) -> float:
    product()  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def gemm_rates(repeats: int = 5, with_tf: bool = True) -> list[GemmRate]:
    """Every library's GFLOP/s on every shape and dtype of SHAPES x DTYPES, in this process."""
    rates = []
    for shape, (m, k, n) in SHAPES.items():
        for dtype in DTYPES:
            for library, build in LIBRARIES.items():
                rate = GemmRate(library, dtype, shape)
                if library == "tensorflow" and not with_tf:
                    rate.skipped = "--no-tf"
                else:
                    try:
                        rate.gflops = _rate(build(m, k, n, dtype), 2.0 * m * k * n, repeats)
                    except (ImportError, NotImplementedError, RuntimeError, AttributeError) as error:
                        rate.skipped = str(error).splitlines()[0][:80] or type(error).__name__
                    time.sleep(PAUSE_S)
                rates.append(rate)
    return rates


def best_rates(*runs: list[GemmRate]) -> list[GemmRate]:
    """Merges runs of gemm_rates (e.g. before and after a benchmark) keeping each entry's best rate."""
    merged: dict[tuple[str, str, str], GemmRate] = {}
    for run in runs:
        for rate in run:
            key = (rate.library, rate.dtype, rate.shape)
            held = merged.get(key)
            if held is None or (rate.gflops or 0.0) > (held.gflops or 0.0):
                merged[key] = rate
    return list(merged.values())


def best_rate(rates: list[GemmRate], dtype: str) -> GemmRate:
    """The fastest measured entry of ``dtype`` over libraries and shapes."""
    measured = [rate for rate in rates if rate.dtype == dtype and rate.gflops is not None]
    if not measured:
        raise ValueError(f"no {dtype} GEMM rate was measured")
    return max(measured, key=lambda rate: rate.gflops)


def format_rates(rates: list[GemmRate]) -> str:
    """A table: one row per library, one column per shape and dtype, GFLOP/s (or "-" when skipped)."""
    columns = [(shape, dtype) for shape in SHAPES for dtype in DTYPES]
    header = f"{'GEMM GFLOP/s':22s}" + "".join(f"{f'{shape} {dtype}':>24s}" for shape, dtype in columns)
    lines = [header]
    reasons = []
    for library in LIBRARIES:
        cells = []
        for shape, dtype in columns:
            rate = next(r for r in rates if (r.library, r.shape, r.dtype) == (library, shape, dtype))
            cells.append(f"{rate.gflops:24.1f}" if rate.gflops is not None else f"{'-':>24s}")
            if rate.skipped and (library, rate.skipped) not in reasons:
                reasons.append((library, rate.skipped))
        lines.append(f"{library:22s}" + "".join(cells))
    lines += [f"  {library} skipped: {reason}" for library, reason in reasons]
    for dtype in DTYPES:
        try:
            best = best_rate(rates, dtype)
            lines.append(f"best {dtype}: {best.gflops:.1f} GFLOP/s ({best.library}, {best.shape})")
        except ValueError as error:
            lines.append(str(error))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-tf", action="store_true", help="leave TensorFlow out")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.threads and not args.no_tf:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    print(machine_line())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    print(load_line("before"))
    rates = gemm_rates(repeats=args.repeats, with_tf=not args.no_tf)
    print(load_line("after"))
    print(format_rates(rates))


if __name__ == "__main__":
    main()
