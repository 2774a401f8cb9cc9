"""The cells against their equations and against torch's cells; the initialisation options."""

import pytest
import torch

from archlab.rnn.cells import GRUCell, LSTMCell, RNNCell
from archlab.rnn.init import chrono_, forget_bias_, orthogonal_recurrent_

I, H, B = 5, 7, 3


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, I, generator=g), torch.randn(B, H, generator=g), torch.randn(B, H, generator=g)


def _copy_from(torch_cell, cell):
    cell.load_state_dict({k: v for k, v in torch_cell.state_dict().items()})
    return cell


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_matches_torch_and_formula(nonlinearity):
    torch.manual_seed(0)
    ref = torch.nn.RNNCell(I, H, nonlinearity=nonlinearity)
    cell = _copy_from(ref, RNNCell(input_size=I, hidden_size=H, nonlinearity=nonlinearity))
    x, h, _ = _inputs()
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    formula = act(x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh)
    torch.testing.assert_close(cell(x, h), ref(x, h), rtol=0, atol=1e-6)
    torch.testing.assert_close(cell(x, h), formula, rtol=0, atol=1e-6)


def test_lstm_cell_matches_torch_and_formula():
    torch.manual_seed(0)
    ref = torch.nn.LSTMCell(I, H)
    cell = _copy_from(ref, LSTMCell(input_size=I, hidden_size=H))
    x, h, c = _inputs()
    pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh  # (B, 4H)
    i, f, g, o = pre[:, :H].sigmoid(), pre[:, H:2 * H].sigmoid(), pre[:, 2 * H:3 * H].tanh(), pre[:, 3 * H:].sigmoid()
    c_next = f * c + i * g
    h_next = o * c_next.tanh()
    ours = cell(x, (h, c))
    for a, b in zip(ours, ref(x, (h, c))):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours[0], h_next, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours[1], c_next, rtol=0, atol=1e-6)


def test_gru_cell_matches_torch_and_formula_with_reset_after_matmul():
    torch.manual_seed(0)
    ref = torch.nn.GRUCell(I, H)
    cell = _copy_from(ref, GRUCell(input_size=I, hidden_size=H))
    x, h, _ = _inputs()
    wi, wh, bi, bh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    block = lambda t, k: t[..., k * H:(k + 1) * H]  # noqa: E731
    r = torch.sigmoid(x @ block(wi.T, 0) + block(bi, 0) + h @ block(wh.T, 0) + block(bh, 0))
    z = torch.sigmoid(x @ block(wi.T, 1) + block(bi, 1) + h @ block(wh.T, 1) + block(bh, 1))
    n = torch.tanh(x @ block(wi.T, 2) + block(bi, 2) + r * (h @ block(wh.T, 2) + block(bh, 2)))
    torch.testing.assert_close(cell(x, h), ref(x, h), rtol=0, atol=1e-6)
    torch.testing.assert_close(cell(x, h), (1 - z) * n + z * h, rtol=0, atol=1e-6)
    # Cho et al.'s reset-before-matmul form, tanh(W x + U (r * h)), is a different function
    n_cho = torch.tanh(x @ block(wi.T, 2) + block(bi, 2) + (r * h) @ block(wh.T, 2) + block(bh, 2))
    assert not torch.allclose((1 - z) * n_cho + z * h, cell(x, h), atol=1e-4)


@pytest.mark.parametrize("cls,ref_cls", [(RNNCell, torch.nn.RNNCell), (LSTMCell, torch.nn.LSTMCell),
                                         (GRUCell, torch.nn.GRUCell)])
def test_cells_without_bias_and_from_zero_state(cls, ref_cls):
    torch.manual_seed(0)
    ref = ref_cls(I, H, bias=False)
    cell = _copy_from(ref, cls(input_size=I, hidden_size=H, bias=False))
    x, _, _ = _inputs()
    ours, theirs = cell(x), ref(x)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_default_init_is_torchs_uniform_bound():
    torch.manual_seed(0)
    cell = LSTMCell(input_size=I, hidden_size=100)
    for p in cell.parameters():
        assert p.abs().max() <= 0.1 and p.abs().max() > 0.09


def test_orthogonal_recurrent_blocks():
    cell = GRUCell(input_size=I, hidden_size=H)
    orthogonal_recurrent_(cell, generator=torch.Generator().manual_seed(0))
    for w in cell.weight_hh.detach().split(H, dim=0):
        torch.testing.assert_close(w @ w.T, torch.eye(H), rtol=0, atol=1e-5)


def test_forget_bias_and_chrono():
    cell = LSTMCell(input_size=I, hidden_size=H)
    forget_bias_(cell, 1.0)
    total = (cell.bias_ih + cell.bias_hh).detach()
    assert torch.equal(total[H:2 * H], torch.ones(H))
    chrono_(cell, 50.0, generator=torch.Generator().manual_seed(0))
    total = (cell.bias_ih + cell.bias_hh).detach()
    b_f, b_i = total[H:2 * H], total[:H]
    assert torch.all(b_f >= 0) and torch.all(b_f <= torch.log(torch.tensor(49.0)))
    torch.testing.assert_close(b_i, -b_f)
    gru = GRUCell(input_size=I, hidden_size=H)
    forget_bias_(gru, 2.0)
    assert torch.equal((gru.bias_ih + gru.bias_hh).detach()[H:2 * H], torch.full((H,), 2.0))


def test_bad_options_raise():
    with pytest.raises(ValueError, match="no forget gate"):
        forget_bias_(RNNCell(input_size=I, hidden_size=H), 1.0)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(input_size=I, hidden_size=H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size=0"):
        LSTMCell(input_size=I, hidden_size=0)
    with pytest.raises(ValueError, match="chrono_t_max=2"):
        chrono_(LSTMCell(input_size=I, hidden_size=H), 2)
