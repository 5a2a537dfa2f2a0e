"""The machine's fp32 matmul peak, measured with torch in the running process."""

from __future__ import annotations

import time

import torch


def fp32_matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """Best sustained GFLOP/s of a square fp32 matmul (torch, all intra-op threads)."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9
