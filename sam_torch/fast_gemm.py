"""fp32 linear layers through oneDNN where that is measured faster than torch's default GEMM (PyTorch backend).

torch's default CPU fp32 matmul calls the BLAS it was built with (MKL in the pip wheels), which takes a slow code
path on some CPUs; the same product through torch's own oneDNN kernel (``torch.ops.mkldnn._linear_pointwise``,
plain fp32 weights: oneDNN reorders them per call, which costs a copy of the weight and no extra memory) can be
~2x faster there. Both give the product to fp32 rounding; only the order of the K-sums differs.

Modes (``DUALSAM_FAST_GEMM`` in the environment, or ``set_mode``; ``set_mode`` wins):

- ``auto`` (default): per process and shape class (in/out features, a power-of-two row bucket, thread count), the
  first call times both paths on that shape (a few GEMMs at most ``MEASURE_ROWS`` rows, once) and keeps the faster;
  oneDNN must win by ``MARGIN``. No CPU name is consulted, only whether torch has oneDNN and the measurement.
- ``on``: oneDNN whenever it can run (CPU, fp32, oneDNN built and enabled), without measuring.
- ``off``: torch's default path always.

The fast path runs for fp32 CPU tensors of at least ``MIN_FLOPS`` outside autocast, tracing, scripting and
torch.compile / torch.export (those see the plain ``F.linear``). It is differentiable: the backward products go
through the same choice. In ``auto`` mode two processes may choose differently, so results can differ between
processes at the level of fp32 rounding (never within one process).

Shape legend: M rows (all leading dims), K in features, N out features.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

ENV_VAR = "DUALSAM_FAST_GEMM"
MODES = ("auto", "on", "off")
#: Products below this many FLOPs keep the default path (call overhead dominates; nothing to win).
MIN_FLOPS = 2**23
#: Row buckets above this are measured at this many rows (a few ms per GEMM); the decision covers the bucket.
MEASURE_ROWS = 512
#: oneDNN must take at most this fraction of the default path's time to be chosen (noise on a shared machine).
MARGIN = 0.9
#: Alternating timed repeats per path in a measurement (the best of them counts).
REPEATS = 3

_state: dict[str, str | None] = {"mode": None}
_decisions: dict[tuple[int, int, int, int], bool] = {}
_lock = threading.Lock()


def set_mode(mode: str | None) -> None:
    """Sets the process-wide mode: "auto", "on", "off", or None to follow ``DUALSAM_FAST_GEMM`` again."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} or None, got {mode!r}")
    _state["mode"] = mode


def get_mode() -> str:
    """The mode in force: ``set_mode``'s, else ``DUALSAM_FAST_GEMM``'s (default "auto")."""
    if _state["mode"] is not None:
        return _state["mode"]
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    aliases = {"1": "on", "true": "on", "0": "off", "false": "off"}
    value = aliases.get(value, value)
    if value not in MODES:
        raise ValueError(f"{ENV_VAR} must be one of {', '.join(MODES)} (or 1/0), got {os.environ[ENV_VAR]!r}")
    return value


@contextlib.contextmanager
def use_mode(mode: str) -> Iterator[None]:
    """Context manager: ``set_mode(mode)`` inside, the previous setting restored after."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    previous = _state["mode"]
    set_mode(mode)
    try:
        yield
    finally:
        _state["mode"] = previous


def available() -> bool:
    """Whether this torch can run the oneDNN linear at all (built with oneDNN, enabled, the op present)."""
    return (
        torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


def decisions() -> dict[tuple[int, int, int, int], bool]:
    """The ``auto`` choices made so far: (K, N, row bucket, threads) -> oneDNN chosen."""
    return dict(_decisions)


def _onednn_linear(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(inputs, weight, bias, "none", [], "")


def _row_bucket(rows: int) -> int:
    return min(1 << max(0, math.ceil(math.log2(max(rows, 1)))), MEASURE_ROWS)


def _seconds(fn, inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> float:
    start = time.perf_counter()
    fn(inputs, weight, bias)
    return time.perf_counter() - start


def _measure(in_features: int, out_features: int, rows: int, dtype: torch.dtype) -> bool:
    """Times F.linear against the oneDNN linear on random (rows, K) x (N, K) operands; True if oneDNN wins."""
    inputs = torch.randn(rows, in_features, dtype=dtype)
    weight = torch.randn(out_features, in_features, dtype=dtype)
    bias = torch.randn(out_features, dtype=dtype)
    default, fast = math.inf, math.inf
    with torch.no_grad():
        F.linear(inputs, weight, bias), _onednn_linear(inputs, weight, bias)  # warm-up (oneDNN primitive cache)
        for _ in range(REPEATS):
            default = min(default, _seconds(F.linear, inputs, weight, bias))
            fast = min(fast, _seconds(_onednn_linear, inputs, weight, bias))
    return fast <= MARGIN * default


def _use_onednn(inputs: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether this product should run through oneDNN, by the mode, the operands and (auto) the measurement."""
    mode = get_mode()
    if mode == "off":
        return False
    if inputs.device.type != "cpu" or inputs.dtype != torch.float32 or weight.dtype != torch.float32:
        return False
    if inputs.dim() < 1 or not weight.is_contiguous() or not available():
        return False
    if torch.is_autocast_enabled("cpu") or torch.jit.is_scripting() or torch.jit.is_tracing():
        return False
    if torch.compiler.is_compiling():  # torch.compile / torch.export; the legacy ONNX export traces
        return False
    out_features, in_features = weight.shape
    rows = inputs.numel() // max(in_features, 1)
    if 2 * rows * in_features * out_features < MIN_FLOPS:
        return False
    if mode == "on":
        return True
    key = (in_features, out_features, _row_bucket(rows), torch.get_num_threads())
    choice = _decisions.get(key)
    if choice is None:
        with _lock:
            choice = _decisions.get(key)
            if choice is None:
                choice = _decisions[key] = _measure(in_features, out_features, key[2], inputs.dtype)
    return choice


def _product(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """inputs @ weight^T (+ bias) outside autograd, on the chosen path. (..., K) x (N, K) -> (..., N)."""
    if _use_onednn(inputs, weight):
        return _onednn_linear(inputs, weight, bias)
    return F.linear(inputs, weight, bias)


class _Linear(torch.autograd.Function):
    """F.linear with every product (forward, input grad, weight grad) on the chosen path."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(inputs, weight)
        ctx.has_bias = bias is not None
        return _product(inputs, weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        inputs, weight = ctx.saved_tensors
        grad_inputs = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_inputs = _product(grad, weight.t().contiguous(), None)  # (..., N) x (N, K) -> (..., K)
        rows = grad.reshape(-1, grad.shape[-1])  # (M, N)
        if ctx.needs_input_grad[1]:
            flat = inputs.reshape(-1, inputs.shape[-1])  # (M, K)
            grad_weight = _product(rows.t().contiguous(), flat.t().contiguous(), None)  # (N, M) x (K, M) -> (N, K)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0)
        return grad_inputs, grad_weight, grad_bias


def linear(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` on the faster of torch's default GEMM and oneDNN's (see the module docstring).

    Args:
        inputs: (..., K).
        weight: (N, K).
        bias: (N,) or None.

    Returns:
        (..., N).
    """
    if not _use_onednn(inputs, weight):
        return F.linear(inputs, weight, bias)
    differentiable = torch.is_grad_enabled() and (
        inputs.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    )
    if differentiable:
        return _Linear.apply(inputs, weight, bias)
    return _onednn_linear(inputs, weight, bias)


class FastLinear(nn.Linear):
    """``nn.Linear`` (same parameters, state-dict keys and init) whose product runs through ``linear``."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(..., in_features) -> (..., out_features)."""
        return linear(inputs, self.weight, self.bias)
