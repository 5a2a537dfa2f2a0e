"""sam_torch.fast_gemm: the oneDNN linear gives torch's default result to fp32 rounding, forward and backward, the
mode switch picks the path (counted, not timed), and bad settings raise naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from sam_torch import fast_gemm
from tests.helpers.tolerances import assert_outputs_close

pytestmark = pytest.mark.skipif(not fast_gemm.available(), reason="this torch has no oneDNN linear")

#: Fast vs default path and either vs a float64 reference, relative to max|ref|: both are fp32 sums in different
#: orders (oneDNN blocks K differently from MKL); measured up to 1.3e-6 of max|ref| for K in 256..3072.
#: bf16 or TF32 arithmetic inside the fast path would be ~4e-3 or ~5e-4 and fail.
GEMM_RTOL = 5e-6


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    """Each test starts with no mode set, no environment setting and no measured decisions."""
    monkeypatch.delenv(fast_gemm.ENV_VAR, raising=False)
    monkeypatch.setattr(fast_gemm, "_state", {"mode": None})
    monkeypatch.setattr(fast_gemm, "_decisions", {})


@pytest.fixture
def onednn_calls(monkeypatch) -> list[tuple[int, ...]]:
    """Records the input shape of every oneDNN product."""
    calls: list[tuple[int, ...]] = []
    original = fast_gemm._onednn_linear

    def counted(inputs, weight, bias):
        calls.append(tuple(inputs.shape))
        return original(inputs, weight, bias)

    monkeypatch.setattr(fast_gemm, "_onednn_linear", counted)
    return calls


def _reference(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> np.ndarray:
    out = inputs.detach().double() @ weight.detach().double().T
    return (out if bias is None else out + bias.detach().double()).numpy()


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_fast_linear_equals_default_to_fp32_rounding(onednn_calls, with_bias, layout):
    torch.manual_seed(0)
    layer = fast_gemm.FastLinear(768, 320, bias=with_bias)
    inputs = torch.randn(3, 130, 768) if layout == "contiguous" else torch.randn(130, 3, 768).transpose(0, 1)
    with torch.no_grad():
        with fast_gemm.use_mode("on"):
            fast = layer(inputs)
        with fast_gemm.use_mode("off"):
            default = layer(inputs)
    assert onednn_calls == [(3, 130, 768)]
    assert fast.shape == default.shape == (3, 130, 320)
    expected = _reference(inputs, layer.weight, layer.bias)
    assert float(np.abs(expected).max()) > 1.0  # informative
    assert_outputs_close(default, expected, rtol=GEMM_RTOL, name="default")
    assert_outputs_close(fast, expected, rtol=GEMM_RTOL, name="oneDNN")
    assert_outputs_close(fast, default, rtol=GEMM_RTOL, name="oneDNN vs default")


def test_fast_linear_gradients_equal_default(onednn_calls):
    torch.manual_seed(1)
    layer = fast_gemm.FastLinear(384, 512)
    inputs = torch.randn(2, 200, 384)
    upstream = torch.randn(2, 200, 512)
    results = {}
    for mode in ("on", "off"):
        layer.zero_grad()
        leaf = inputs.clone().requires_grad_(True)
        with fast_gemm.use_mode(mode):
            out = layer(leaf)
            out.backward(upstream)
        results[mode] = (out.detach(), leaf.grad, layer.weight.grad.clone(), layer.bias.grad.clone())
    # forward, grad input (rows 400 x N 512 x K 384), grad weight (rows 512 x M 400 x K 384): three oneDNN products
    assert len(onednn_calls) == 3
    names = ("output", "grad input", "grad weight", "grad bias")
    for name, fast, default in zip(names, results["on"], results["off"], strict=True):
        assert float(default.abs().max()) > 1.0
        assert_outputs_close(fast, default, rtol=GEMM_RTOL, name=name)
    grad_weight = (upstream.reshape(-1, 512).double().T @ inputs.reshape(-1, 384).double()).numpy()
    assert_outputs_close(results["on"][2], grad_weight, rtol=GEMM_RTOL, name="grad weight vs float64")


def test_the_switch_and_its_environment_variable(onednn_calls, monkeypatch):
    layer = fast_gemm.FastLinear(256, 256)
    inputs = torch.randn(512, 256)
    assert fast_gemm.get_mode() == "auto"
    monkeypatch.setenv(fast_gemm.ENV_VAR, "off")
    assert fast_gemm.get_mode() == "off"
    with torch.no_grad():
        layer(inputs)
        assert onednn_calls == []
        monkeypatch.setenv(fast_gemm.ENV_VAR, "1")
        assert fast_gemm.get_mode() == "on"
        layer(inputs)
        assert len(onednn_calls) == 1
        fast_gemm.set_mode("off")  # the explicit setting wins over the environment
        layer(inputs)
        assert len(onednn_calls) == 1 and fast_gemm.get_mode() == "off"
        with fast_gemm.use_mode("on"):
            layer(inputs)
        assert len(onednn_calls) == 2 and fast_gemm.get_mode() == "off"  # restored


@pytest.mark.parametrize("winner", [True, False])
def test_auto_measures_once_per_shape_class(onednn_calls, monkeypatch, winner):
    measured = []
    monkeypatch.setattr(fast_gemm, "_measure", lambda *args: measured.append(args) or winner)
    layer = fast_gemm.FastLinear(256, 384)
    with torch.no_grad():
        for rows in (600, 700, 2000, 100):  # buckets: 512 (capped) three times, then 128
            layer(torch.randn(rows, 256))
    assert measured == [(256, 384, 512, torch.float32), (256, 384, 128, torch.float32)]
    threads = torch.get_num_threads()
    assert fast_gemm.decisions() == {(256, 384, 512, threads): winner, (256, 384, 128, threads): winner}
    assert len(onednn_calls) == (4 if winner else 0)


def test_the_real_measurement_returns_a_choice():
    assert fast_gemm._measure(64, 64, 64, torch.float32) in (True, False)


def test_default_path_where_onednn_does_not_apply(onednn_calls):
    layer = fast_gemm.FastLinear(256, 256)
    with torch.no_grad(), fast_gemm.use_mode("on"):
        small = layer(torch.randn(4, 256))  # 0.5 MFLOP < MIN_FLOPS
        double = fast_gemm.FastLinear(256, 256).double()(torch.randn(512, 256, dtype=torch.float64))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = layer(torch.randn(512, 256))
        traced = torch.jit.trace(layer, torch.randn(512, 256), check_trace=False)  # no untraced rerun
    assert onednn_calls == []
    assert small.dtype == torch.float32 and double.dtype == torch.float64 and autocast.dtype == torch.bfloat16
    assert "linear" in str(traced.graph)


def test_vision_layer_equals_default_path(onednn_calls, monkeypatch):
    """A whole windowed ViT layer (qkv, proj and the MLP through FastLinear), inference and one backward."""
    from sam_core.config import SamVisionConfig
    from sam_torch.image_encoder import VisionLayer

    monkeypatch.setattr(fast_gemm, "MIN_FLOPS", 0)
    config = SamVisionConfig(hidden_size=64, num_attention_heads=4, mlp_dim=256, image_size=256, patch_size=16,
                             use_rel_pos=True, window_size=6)  # fmt: skip
    torch.manual_seed(2)
    layer = VisionLayer(config, window_size=6)
    hidden = torch.randn(1, 16, 16, 64)
    outputs, grads = {}, {}
    for mode in ("on", "off"):
        layer.zero_grad()
        with fast_gemm.use_mode(mode):
            with torch.no_grad():
                outputs[mode] = layer(hidden)[0]
            layer(hidden)[0].square().sum().backward()
        grads[mode] = {name: p.grad.clone() for name, p in layer.named_parameters() if p.grad is not None}
    assert len(onednn_calls) == 4 + 4 * 3  # four linears inference; each three products in training
    assert_outputs_close(outputs["on"], outputs["off"], rtol=GEMM_RTOL, name="layer output")
    assert grads["on"].keys() == grads["off"].keys() and "mlp.lin1.weight" in grads["on"]
    for name, default in grads["off"].items():
        # relative to the largest gradient of that tensor (measured up to 6.6e-7 of it)
        bound = GEMM_RTOL * float(default.abs().max())
        assert float((grads["on"][name] - default).abs().max()) <= bound, name


def test_bad_settings_raise_naming_them(monkeypatch):
    with pytest.raises(ValueError, match="mode"):
        fast_gemm.set_mode("fast")
    with pytest.raises(ValueError, match="mode"):
        with fast_gemm.use_mode("yes"):
            pass
    monkeypatch.setenv(fast_gemm.ENV_VAR, "sometimes")
    with pytest.raises(ValueError, match=fast_gemm.ENV_VAR):
        fast_gemm.get_mode()
    with pytest.raises(ValueError, match=fast_gemm.ENV_VAR), torch.no_grad():
        fast_gemm.FastLinear(256, 256)(torch.randn(512, 256))


def test_functional_linear_without_bias_matches_f_linear():
    weight = torch.randn(300, 200)
    inputs = torch.randn(400, 200)
    with torch.no_grad(), fast_gemm.use_mode("on"):
        assert_outputs_close(fast_gemm.linear(inputs, weight), F.linear(inputs, weight), rtol=GEMM_RTOL)
