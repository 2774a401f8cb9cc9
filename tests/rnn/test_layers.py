"""Layers: parity with torch.nn.RNN/LSTM/GRU through from_torch (multi-layer, bidirectional, both layouts),
initial and final states, step vs forward, options and bad input."""

import pytest
import torch

from archlab.interop import from_torch
from archlab.rnn.interop import torch_key_map
from archlab.rnn.layers import GRU, LSTM, RNN, RecurrentLayer

TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
I, H, B, L = 5, 6, 3, 7


def _state(kind, rows, seed=3):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(rows, B, H, generator=g)
    return (h, torch.randn(rows, B, H, generator=g)) if kind == "lstm" else h


def _assert_state_close(a, b, atol):
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        torch.testing.assert_close(x, y, rtol=0, atol=atol)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (3, True), (2, False)])
def test_from_torch_parity(kind, batch_first, layers, bidirectional):
    torch.manual_seed(0)
    ref = TORCH[kind](I, H, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first).eval()
    ours = from_torch(ref)
    assert isinstance(ours, RecurrentLayer) and ours.kind == kind
    assert ours.layout == ("batch_first" if batch_first else "time_first")
    x = torch.randn(B, L, I) if batch_first else torch.randn(L, B, I)
    rows = layers * (2 if bidirectional else 1)
    for state in (None, _state(kind, rows)):
        out_ref, final_ref = ref(x, state)
        out, final = ours(x, state)
        assert out.shape == out_ref.shape
        torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-5)
        _assert_state_close(final, final_ref, 1e-5)


def test_from_torch_relu_rnn_without_bias_and_double():
    torch.manual_seed(0)
    ref = torch.nn.RNN(I, H, num_layers=2, nonlinearity="relu", bias=False, batch_first=True).double()
    ours = from_torch(ref)
    x = torch.randn(B, L, I, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-12)


def test_from_torch_keeps_inter_layer_dropout_in_training_mode():
    ref = torch.nn.LSTM(I, H, num_layers=2, dropout=0.5, batch_first=True)
    ours = from_torch(ref)
    assert ours.training and ours.dropout.p == 0.5
    x = torch.randn(B, L, I)
    assert not torch.allclose(ours(x)[0], ours(x)[0])  # dropout is active in training
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-5)


def test_from_torch_rejects_projections():
    with pytest.raises(ValueError, match="proj_size=3"):
        from_torch(torch.nn.LSTM(I, H, proj_size=3))


def test_key_map_names_every_torch_parameter():
    ref = torch.nn.GRU(I, H, num_layers=2, bidirectional=True)
    table = torch_key_map(2, 2)
    assert set(table) == set(ref.state_dict())
    assert table["weight_hh_l1_reverse"] == "cells.3.weight_hh"


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_step_agrees_with_forward(cls):
    torch.manual_seed(0)
    layer = cls(input_size=I, hidden_size=H, n_layers=3).eval()
    x = torch.randn(B, L, I)
    start = _state(layer.kind, 3)
    out, final = layer(x, start)
    state, outs = start, []
    for t in range(L):
        y, state = layer.step(x[:, t], state)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, dim=1), out, rtol=0, atol=1e-6)
    _assert_state_close(state, final, 1e-6)
    zero = layer.init_state(B)
    assert torch.equal(layer(x, zero)[0], layer(x)[0])


def test_final_state_continues_the_sequence():
    torch.manual_seed(0)
    layer = LSTM(input_size=I, hidden_size=H, n_layers=2)
    x = torch.randn(B, L, I)
    whole, final = layer(x)
    first, mid = layer(x[:, :3])
    second, final_split = layer(x[:, 3:], mid)
    torch.testing.assert_close(torch.cat((first, second), dim=1), whole, rtol=0, atol=1e-6)
    _assert_state_close(final_split, final, 1e-6)


def test_bidirectional_halves():
    torch.manual_seed(0)
    layer = GRU(input_size=I, hidden_size=H, direction="bidirectional")
    x = torch.randn(B, L, I)
    out, final = layer(x)
    assert out.shape == (B, L, 2 * H) and final.shape == (2, B, H)
    torch.testing.assert_close(out[:, -1, :H], final[0])  # forward half ends at the last step
    torch.testing.assert_close(out[:, 0, H:], final[1])  # backward half ends at the first step
    with pytest.raises(ValueError, match="direction='forward'"):
        layer.step(x[:, 0], layer.init_state(B))


def test_layer_init_options():
    layer = LSTM(input_size=I, hidden_size=H, n_layers=2, recurrent_init="orthogonal", chrono_t_max=20.0,
                 generator=torch.Generator().manual_seed(0))
    for cell in layer.cells:
        w = cell.weight_hh.detach()[:H]
        torch.testing.assert_close(w @ w.T, torch.eye(H), rtol=0, atol=1e-5)
        torch.testing.assert_close((cell.bias_ih + cell.bias_hh)[:H], -(cell.bias_ih + cell.bias_hh)[H:2 * H])


def test_bad_input_raises():
    layer = LSTM(input_size=I, hidden_size=H)
    with pytest.raises(ValueError, match="x must be"):
        layer(torch.randn(B, L))
    with pytest.raises(ValueError, match="expected"):
        layer(torch.randn(B, L, I), (torch.zeros(2, B, H), torch.zeros(2, B, H)))
    with pytest.raises(ValueError, match="pair"):
        layer(torch.randn(B, L, I), torch.zeros(1, B, H))
    with pytest.raises(ValueError, match="direction="):
        LSTM(input_size=I, hidden_size=H, direction="both")
    with pytest.raises(ValueError, match="layout="):
        GRU(input_size=I, hidden_size=H, layout="BLD")
    with pytest.raises(ValueError, match="forget_bias=1.0 and chrono_t_max"):
        LSTM(input_size=I, hidden_size=H, forget_bias=1.0, chrono_t_max=10.0)
    with pytest.raises(ValueError, match="no forget gate"):
        RNN(input_size=I, hidden_size=H, forget_bias=1.0)
    with pytest.raises(ValueError, match="nonlinearity"):
        GRU(input_size=I, hidden_size=H, nonlinearity="relu")
