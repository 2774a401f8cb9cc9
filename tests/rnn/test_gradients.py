"""The measurements behind the claims: state Jacobian norms against a brute-force Jacobian and Pascanu's bound;
the longest chain of dependent matmuls."""

import pytest
import torch
from torch.autograd.functional import jacobian

from archlab.core.attention import MultiHeadAttention
from archlab.rnn.cells import GRUCell, LSTMCell, RNNCell
from archlab.rnn.claims import linear_fit_r2
from archlab.rnn.gradients import sequential_depth, state_jacobian_norms
from archlab.rnn.layers import GRU


def _brute_force_norm(cell, x, lag):
    """||ds_T / ds_{T-lag}||_2 by torch.autograd.functional.jacobian on the flattened state."""
    length, lstm = x.shape[0], isinstance(cell, LSTMCell)
    state = cell.init_state(1)
    with torch.no_grad():
        for t in range(length - lag):
            state = cell(x[t:t + 1], state)
    h = cell.hidden_size

    def run(flat):
        s = (flat[None, :h], flat[None, h:]) if lstm else flat[None]
        for t in range(length - lag, length):
            s = cell(x[t:t + 1], s)
        return torch.cat(s, dim=-1)[0] if lstm else s[0]

    start = torch.cat(state, dim=-1)[0] if lstm else state[0]
    return float(torch.linalg.matrix_norm(jacobian(run, start), ord=2))


@pytest.mark.parametrize("cls", [RNNCell, LSTMCell, GRUCell])
def test_jacobian_norms_match_brute_force(cls):
    torch.manual_seed(0)
    cell = cls(input_size=3, hidden_size=5).double()
    x = torch.randn(12, 3, dtype=torch.float64)
    norms = state_jacobian_norms(cell, x)
    assert norms.shape == (12,)
    for lag in (1, 4, 12):
        assert float(norms[lag - 1]) == pytest.approx(_brute_force_norm(cell, x, lag), rel=1e-9)


def test_pascanu_bound_holds_for_a_contracting_tanh_rnn():
    torch.manual_seed(0)
    cell = RNNCell(input_size=3, hidden_size=16).double()
    with torch.no_grad():
        cell.weight_hh.mul_(0.8 / torch.linalg.matrix_norm(cell.weight_hh, ord=2))
    norms = state_jacobian_norms(cell, torch.randn(40, 3, dtype=torch.float64))
    lags = torch.arange(1, 41, dtype=torch.float64)
    assert torch.all(norms <= 0.8 ** lags)


def test_linear_fit_r2():
    xs = torch.arange(10.0)
    slope, r2 = linear_fit_r2(xs, 3 - 0.5 * xs)
    assert slope == pytest.approx(-0.5) and r2 == pytest.approx(1.0)
    _, r2_noisy = linear_fit_r2(xs, torch.tensor([0.0, 1, 0, 1, 0, 1, 0, 1, 0, 1]))
    assert r2_noisy < 0.2


def test_sequential_depth_counts_dependent_products():
    gru = GRU(input_size=4, hidden_size=4, path="stepwise")  # the readable graph: one node per product
    for length in (1, 5, 9):
        out, _ = gru(torch.randn(2, length, 4))
        assert sequential_depth(out) == length  # one W_hh product per step (the first runs beside W_ih x)
    attn = MultiHeadAttention(d_model=8, n_heads=2, causal=True)
    depths = {sequential_depth(attn(torch.randn(1, n, 8))) for n in (2, 16, 64)}
    assert depths == {3}  # qkv projection, attention, output projection
    w = torch.randn(3, 3, requires_grad=True)
    assert sequential_depth((w @ w) @ (w @ w)) == 2  # two levels of products, not three products
    with pytest.raises(ValueError, match="no autograd graph"):
        sequential_depth(torch.ones(2))
