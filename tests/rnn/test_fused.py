"""The fused LSTM recurrence against the stepwise cells (its reference) and torch.nn.LSTM: outputs, final states
and every gradient; gradcheck of the hand-written backward; the rnn-lstm benchmark at its tiny size."""

import shutil

import pytest
import torch

from archlab.bench.registry import run_benchmark
from archlab.core.blas import packed_sgemm
from archlab.interop import from_torch
from archlab.rnn import lstm_kernel
from archlab.rnn.fused import _LSTMRecurrence, gate_order
from archlab.rnn.layers import LSTM

I, H, B, L = 5, 6, 3, 9
POINTWISE_KERNEL = lstm_kernel  # the fixture ``pointwise`` (conftest.py) switches this kernel off and on


def _outputs_and_grads(layer, x, state, weights):
    """Outputs, final state and the gradients of a loss that weighs every output and both final states."""
    x = x.clone().requires_grad_(True)
    state = None if state is None else tuple(s.clone().requires_grad_(True) for s in state)
    out, (h, c) = layer(x, state)
    loss = (out * weights).sum() + (h * 0.5).sum() - (c * 0.25).sum()
    inputs = [x, *layer.parameters()] + ([] if state is None else list(state))
    return [out, h, c, *torch.autograd.grad(loss, inputs)]


def _stepwise_twin(layer):
    twin = LSTM(input_size=layer.input_size, hidden_size=H, n_layers=layer.n_layers, direction=layer.direction,
                path="stepwise", layout=layer.layout)
    twin.load_state_dict(layer.state_dict())
    return twin


@pytest.mark.parametrize("layers,direction", [(1, "forward"), (2, "bidirectional")])
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_equals_stepwise_reference(layers, direction, with_state, pointwise):
    torch.manual_seed(0)
    fused = LSTM(input_size=I, hidden_size=H, n_layers=layers, direction=direction, forget_bias=1.0)
    assert fused.path == "auto"
    stepwise = _stepwise_twin(fused)
    x = torch.randn(B, L, I)
    rows = layers * (2 if direction == "bidirectional" else 1)
    state = (torch.randn(rows, B, H), torch.randn(rows, B, H)) if with_state else None
    weights = torch.randn(B, L, fused.dirs * H)
    for a, b in zip(_outputs_and_grads(fused, x, state, weights), _outputs_and_grads(stepwise, x, state, weights)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_saturated_gates_stay_finite_and_equal(dtype, pointwise):
    torch.manual_seed(0)
    fused = LSTM(input_size=I, hidden_size=H).to(dtype)
    stepwise = _stepwise_twin(fused).to(dtype)
    x = torch.randn(B, L, I, dtype=dtype) * 1000  # pre-activations in the hundreds: every gate saturates
    weights = torch.randn(B, L, H, dtype=dtype)
    got = _outputs_and_grads(fused, x, None, weights)
    want = _outputs_and_grads(stepwise, x, None, weights)
    for a, b in zip(got, want):
        assert torch.isfinite(a).all()
        # near saturation s (1 - s) takes float32's rounding of s near 1 to a relative 1e-3: a looser float32 bound
        scale = (1e-4 if dtype == torch.float32 else 1e-10) * (1 + float(b.detach().abs().max()))
        torch.testing.assert_close(a, b, rtol=0, atol=scale)


def test_fused_matches_torch_lstm_outputs_and_gradients(pointwise):
    torch.manual_seed(1)
    ref = torch.nn.LSTM(I, H, num_layers=2, batch_first=True)
    ours = from_torch(ref)
    x = torch.randn(B, L, I)
    weights = torch.randn(B, L, H)
    state = (torch.randn(2, B, H), torch.randn(2, B, H))
    got = _outputs_and_grads(ours, x, state, weights)
    want = _outputs_and_grads(ref, x, state, weights)
    assert len(got) == len(want) == 3 + 1 + 8 + 2  # outputs, x, 2 layers x 4 weights, (h0, c0)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_recurrence_backward_passes_gradcheck_in_float64(pointwise):
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(2, 4, 3, generator=g, dtype=torch.float64),  # x (B, L, I)
            torch.randn(4 * 2, 3, generator=g, dtype=torch.float64),  # w_ih (4H, I), H = 2
            torch.randn(4 * 2, generator=g, dtype=torch.float64),  # bias
            torch.randn(2, 2, generator=g, dtype=torch.float64),  # h0 (B, H)
            torch.randn(2, 2, generator=g, dtype=torch.float64),  # c0
            torch.randn(4 * 2, 2, generator=g, dtype=torch.float64)]  # w_hh (4H, H)
    args = [a.requires_grad_(True) for a in args]
    assert torch.autograd.gradcheck(_LSTMRecurrence.apply, args)


def test_kernel_is_chosen_for_cpu_float32_and_float64_only():
    if shutil.which("g++") is None or lstm_kernel.load() is None:
        pytest.skip("no compiled LSTM kernel on this machine")
    assert lstm_kernel.kernels_for(torch.zeros(1)) is not None
    assert lstm_kernel.kernels_for(torch.zeros(1, dtype=torch.float64)) is not None
    assert lstm_kernel.kernels_for(torch.zeros(1, dtype=torch.bfloat16)) is None
    # the compiled time loop: float32 only, and only with MKL's packed GEMM
    assert (lstm_kernel.sequence_for(torch.zeros(1)) is not None) == (packed_sgemm() is not None)
    assert lstm_kernel.sequence_for(torch.zeros(1, dtype=torch.float64)) is None


@pytest.mark.parametrize("threads,batch", [(1, 3), (2, 1), (2, 3), (3, 5)])
def test_compiled_time_loop_splits_any_batch_among_threads(threads, batch):
    """Each thread of the compiled loop owns a slice of the batch rows: slices of unequal size, and more threads
    than rows, give the stepwise reference's outputs and gradients."""
    if shutil.which("g++") is None or lstm_kernel.load() is None or lstm_kernel.sequence_for(torch.zeros(1)) is None:
        pytest.skip("no compiled LSTM time loop on this machine")
    torch.manual_seed(threads * 10 + batch)
    fused = LSTM(input_size=I, hidden_size=H)
    stepwise = _stepwise_twin(fused)
    x, weights = torch.randn(batch, L, I), torch.randn(batch, L, H)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = _outputs_and_grads(fused, x, None, weights)
    finally:
        torch.set_num_threads(before)
    for a, b in zip(got, _outputs_and_grads(stepwise, x, None, weights)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_gate_order_takes_torch_blocks_to_o_i_f_g():
    order = gate_order(2, torch.device("cpu"))
    assert order.tolist() == [6, 7, 0, 1, 2, 3, 4, 5]  # blocks i, f, g, o of width 2 -> o, i, f, g


def test_fused_under_bf16_autocast_follows_the_stepwise_path():
    torch.manual_seed(0)
    fused = LSTM(input_size=I, hidden_size=H)
    stepwise = _stepwise_twin(fused)
    x = torch.randn(B, L, I)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a, (h, c) = fused(x)
        b, _ = stepwise(x)
    assert a.dtype == h.dtype == c.dtype == torch.bfloat16
    assert (a.float() - b.float()).abs().max() < 0.05  # both in bf16 (8 bits of mantissa)
    assert (a.float() - fused(x)[0]).abs().max() < 0.05


def test_bad_path_raises():
    with pytest.raises(ValueError, match="path='fast'"):
        LSTM(input_size=I, hidden_size=H, path="fast")


def test_rnn_lstm_benchmark_tiny():
    result = run_benchmark("rnn-lstm", size="tiny", repeats=1, out=None)
    assert result.target == pytest.approx(1 / 1.2) and result.peer == "torch.nn.LSTM"
    assert len(result.archlab_times) == len(result.extra["forward_archlab_times"]) == 1
    assert result.extra["max_abs_difference_output"] <= 1e-5
    for name in ("x", "weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert result.extra[f"max_abs_difference_grad_{name}"] <= 1e-5
