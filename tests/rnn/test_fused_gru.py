"""The fused GRU recurrence against the stepwise cells (its reference) and torch.nn.GRU: outputs, final states
and every gradient; gradcheck of the hand-written backward; the rnn-gru benchmark at its tiny size."""

import shutil

import pytest
import torch

from archlab.bench.registry import run_benchmark
from archlab.interop import from_torch
from archlab.rnn import gru_kernel
from archlab.rnn.fused_gru import _GRURecurrence
from archlab.rnn.layers import GRU

I, H = 5, 6
POINTWISE_KERNEL = gru_kernel  # the fixture ``pointwise`` (conftest.py) switches this kernel off and on


def _outputs_and_grads(layer, x, state, weights):
    """Outputs, final state and the gradients of a loss that weighs every output and the final state."""
    x = x.clone().requires_grad_(True)
    state = None if state is None else state.clone().requires_grad_(True)
    out, h = layer(x, state)
    loss = (out * weights).sum() + (h * 0.5).sum()
    inputs = [x, *layer.parameters()] + ([] if state is None else [state])
    return [out, h, *torch.autograd.grad(loss, inputs)]


def _stepwise_twin(layer, **options):
    twin = GRU(input_size=layer.input_size, hidden_size=layer.hidden_size, n_layers=layer.n_layers,
               direction=layer.direction, layout=layer.layout, path="stepwise", **options)
    twin.load_state_dict(layer.state_dict())
    return twin


@pytest.mark.parametrize("layers,direction,batch,length", [
    (1, "forward", 3, 9), (1, "forward", 1, 9), (1, "forward", 3, 1), (2, "bidirectional", 3, 9),
    (3, "forward", 2, 5), (2, "bidirectional", 1, 1),
])
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_equals_stepwise_reference(layers, direction, batch, length, with_state, pointwise):
    torch.manual_seed(0)
    fused = GRU(input_size=I, hidden_size=H, n_layers=layers, direction=direction, forget_bias=1.0)
    assert fused.path == "auto"
    stepwise = _stepwise_twin(fused)
    x = torch.randn(batch, length, I)
    state = torch.randn(layers * fused.dirs, batch, H) if with_state else None
    weights = torch.randn(batch, length, fused.dirs * H)
    got = _outputs_and_grads(fused, x, state, weights)
    want = _outputs_and_grads(stepwise, x, state, weights)
    assert len(got) == 2 + 1 + 4 * layers * fused.dirs + with_state  # out, h, x, 4 weights per cell, (h0)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_fused_without_bias_and_time_first_equals_stepwise(pointwise):
    torch.manual_seed(2)
    fused = GRU(input_size=I, hidden_size=H, bias=False, layout="time_first", direction="bidirectional")
    stepwise = GRU(input_size=I, hidden_size=H, bias=False, layout="time_first", direction="bidirectional",
                   path="stepwise")
    stepwise.load_state_dict(fused.state_dict())
    x = torch.randn(7, 2, I)  # (L, B, I)
    weights = torch.randn(7, 2, 2 * H)
    for a, b in zip(_outputs_and_grads(fused, x, None, weights), _outputs_and_grads(stepwise, x, None, weights)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_saturated_gates_stay_finite_and_equal(dtype, pointwise):
    torch.manual_seed(0)
    fused = GRU(input_size=I, hidden_size=H).to(dtype)
    stepwise = _stepwise_twin(fused).to(dtype)
    # pre-activations in the tens: every gate saturates (s(a) is 1 in float32 beyond |a| ~ 17); larger inputs only
    # scale up grad W_ih = sum dgi x^T, and with it the float32 rounding of dgi, by |x|
    x = torch.randn(3, 9, I, dtype=dtype) * 100
    weights = torch.randn(3, 9, H, dtype=dtype)
    got = _outputs_and_grads(fused, x, None, weights)
    want = _outputs_and_grads(stepwise, x, None, weights)
    for a, b in zip(got, want):
        assert torch.isfinite(a).all()
        # near saturation s (1 - s) takes float32's rounding of s near 1 to a relative 1e-3: a looser float32 bound
        scale = (1e-4 if dtype == torch.float32 else 1e-10) * (1 + float(b.detach().abs().max()))
        torch.testing.assert_close(a, b, rtol=0, atol=scale)


@pytest.mark.parametrize("bidirectional,batch_first", [(False, True), (True, False)])
def test_fused_matches_torch_gru_outputs_and_gradients(bidirectional, batch_first, pointwise):
    torch.manual_seed(1)
    ref = torch.nn.GRU(I, H, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
    ours = from_torch(ref)
    assert ours.kind == "gru" and ours.path == "auto"
    dirs = 2 if bidirectional else 1
    x = torch.randn(3, 9, I) if batch_first else torch.randn(9, 3, I)
    weights = torch.randn(*x.shape[:2], dirs * H)
    state = torch.randn(2 * dirs, 3, H)
    got = _outputs_and_grads(ours, x, state, weights)
    want = _outputs_and_grads(ref, x, state, weights)
    assert len(got) == len(want) == 2 + 1 + 2 * dirs * 4 + 1  # outputs, h, x, 2 layers x dirs x 4 weights, h0
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_recurrence_backward_passes_gradcheck_in_float64(pointwise):
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(2, 4, 3, generator=g, dtype=torch.float64),  # x (B, L, I)
            torch.randn(3 * 2, 3, generator=g, dtype=torch.float64),  # w_ih (3H, I), H = 2
            torch.randn(3 * 2, generator=g, dtype=torch.float64),  # bias_i
            torch.randn(2, 2, generator=g, dtype=torch.float64),  # h0 (B, H)
            torch.randn(3 * 2, 2, generator=g, dtype=torch.float64),  # w_hh (3H, H)
            torch.randn(3 * 2, generator=g, dtype=torch.float64)]  # bias_h, every block nonzero
    args = [a.requires_grad_(True) for a in args]
    assert torch.autograd.gradcheck(_GRURecurrence.apply, args)


def test_kernel_is_chosen_for_cpu_float32_and_float64_only():
    if shutil.which("g++") is None or gru_kernel.load() is None:
        pytest.skip("no compiled GRU kernel on this machine")
    assert gru_kernel.kernels_for(torch.zeros(1)) is not None
    assert gru_kernel.kernels_for(torch.zeros(1, dtype=torch.float64)) is not None
    assert gru_kernel.kernels_for(torch.zeros(1, dtype=torch.bfloat16)) is None


def test_fused_under_bf16_autocast_follows_the_stepwise_path():
    torch.manual_seed(0)
    fused = GRU(input_size=I, hidden_size=H)
    stepwise = _stepwise_twin(fused)
    x = torch.randn(3, 9, I)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a, h = fused(x)
        b, _ = stepwise(x)
    assert a.dtype == h.dtype == torch.bfloat16
    assert (a.float() - b.float()).abs().max() < 0.05  # both in bf16 (8 bits of mantissa)
    assert (a.float() - fused(x)[0]).abs().max() < 0.05


def test_rnn_gru_benchmark_tiny():
    result = run_benchmark("rnn-gru", size="tiny", repeats=1, out=None)
    assert result.target == pytest.approx(1 / 1.2) and result.peer == "torch.nn.GRU"
    assert result.config["archlab_path"] == "auto"
    assert len(result.archlab_times) == len(result.extra["forward_archlab_times"]) == 1
    assert result.extra["max_abs_difference_output"] <= 1e-5
    assert result.extra["max_abs_difference_h_n"] <= 1e-5
    for name in ("x", "weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert result.extra[f"max_abs_difference_grad_{name}"] <= 1e-5
