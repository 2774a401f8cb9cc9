"""S4D: init golden values, convolution (FFT kernel) == recurrence == explicit unrolling."""

import math

import pytest
import torch

from archlab.ssm.s4d import S4D, s4d_imag


def test_init_imaginary_parts():
    torch.testing.assert_close(s4d_imag(4, "lin"), torch.tensor([0.0, math.pi, 2 * math.pi, 3 * math.pi], dtype=torch.float64))
    # S4D-Inv with N = 8 (4 modes): (8 / pi) (8 / (2n + 1) - 1)
    expected = torch.tensor([8 / math.pi * (8 / (2 * n + 1) - 1) for n in range(4)], dtype=torch.float64)
    torch.testing.assert_close(s4d_imag(4, "inv"), expected)
    assert s4d_imag(4, "inv")[0] == pytest.approx(7 * 8 / math.pi)


@pytest.mark.parametrize("init", ["lin", "inv"])
def test_convolution_equals_recurrence(init):
    torch.manual_seed(0)
    layer = S4D(d_model=6, d_state=16, init=init, generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 50, 6)
    y_conv = layer(x)
    y_rec = layer.forward_recurrent(x)
    assert (y_conv - y_rec).abs().max() <= 1e-4


def test_kernel_equals_unrolled_impulse_response():
    """K_l is the response at lag l to a unit impulse, computed by the explicit ZOH recurrence."""
    layer = S4D(d_model=3, d_state=8, generator=torch.Generator().manual_seed(2)).double()
    A = torch.complex(-torch.exp(layer.A_re_log), layer.A_im)
    dt = torch.exp(layer.log_dt)[:, None]
    C = torch.view_as_complex(layer.C)
    x = torch.zeros_like(A)
    impulse = []
    for t in range(20):
        x = torch.exp(dt * A) * x + (torch.exp(dt * A) - 1) / A * (1.0 if t == 0 else 0.0)
        impulse.append(2 * (C * x).sum(-1).real)
    torch.testing.assert_close(layer.kernel(20), torch.stack(impulse, dim=1), rtol=0, atol=1e-10)


def test_causal_and_gradients_flow():
    layer = S4D(d_model=4, d_state=8)
    x = torch.randn(1, 30, 4, requires_grad=True)
    y = layer(x)
    y[0, 10].sum().backward()
    assert x.grad[0, 11:].abs().max() <= 1e-6  # no leak from the future (FFT round-off only)
    assert x.grad[0, :11].abs().max() > 0
    assert all(p.grad is not None for p in layer.parameters())


@pytest.mark.parametrize("kwargs", [{"d_state": 7}, {"init": "legs"}, {"dt_min": 0.2, "dt_max": 0.1}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        S4D(d_model=4, **kwargs)
