"""MLP and SwiGLU against their formulas."""

import math

import pytest
import torch

from archlab.core.mlp import MLP, SwiGLU, activation_fn, hidden_layers


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def gelu_erf(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


ACTIVATIONS = {
    "gelu": gelu_erf,
    "gelu_tanh": gelu_tanh,
    "relu": lambda x: torch.where(x > 0, x, torch.zeros_like(x)),
    "silu": lambda x: x / (1 + torch.exp(-x)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False])
def test_mlp_equals_formula(name, bias):
    torch.manual_seed(0)
    mlp = MLP(d_model=6, d_hidden=10, activation=name, bias=bias).double()
    x = randn(2, 3, 6)
    h = x @ mlp.fc1.weight.T + (mlp.fc1.bias if bias else 0)
    expected = ACTIVATIONS[name](h) @ mlp.fc2.weight.T + (mlp.fc2.bias if bias else 0)
    torch.testing.assert_close(mlp(x), expected)
    assert (mlp.fc1.bias is None) == (not bias)


def test_gelu_tanh_differs_from_exact_gelu():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    assert (activation_fn("gelu_tanh")(x) - activation_fn("gelu")(x)).abs().max() > 1e-5


def test_swiglu_equals_formula():
    torch.manual_seed(0)
    ff = SwiGLU(d_model=6, d_hidden=10).double()
    x = randn(2, 3, 6)
    gate, up, down = ff.gate.weight, ff.up.weight, ff.down.weight
    silu = ACTIVATIONS["silu"]
    torch.testing.assert_close(ff(x), (silu(x @ gate.T) * (x @ up.T)) @ down.T)
    assert ff.gate.bias is None and ff.up.bias is None and ff.down.bias is None


def test_dropout_only_in_training():
    torch.manual_seed(0)
    mlp = MLP(d_model=4, d_hidden=8, dropout=0.5).double().eval()
    x = randn(4, 4)
    torch.testing.assert_close(mlp(x), mlp(x))
    mlp.train()
    assert not torch.allclose(mlp(x), mlp.eval()(x))


def test_bad_activation():
    with pytest.raises(ValueError, match="activation='tanh' is not one of gelu, gelu_tanh, quick_gelu, relu, silu"):
        MLP(d_model=4, d_hidden=8, activation="tanh")


def test_hidden_layers_widths_activation_and_wrap():
    wrap = torch.nn.utils.parametrizations.weight_norm
    layers, width = hidden_layers(5, 7, 2, act=lambda: torch.nn.LeakyReLU(0.2), wrap=wrap)
    assert width == 7
    assert [isinstance(m, torch.nn.Linear) for m in layers] == [True, False, True, False]
    assert all(isinstance(m, torch.nn.LeakyReLU) for m in layers[1::2])
    assert [(m.in_features, m.out_features) for m in layers[::2]] == [(5, 7), (7, 7)]
    assert all(hasattr(m, "parametrizations") for m in layers[::2])
    assert hidden_layers(5, 7, 0) == ([], 5)
