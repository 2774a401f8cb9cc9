"""The Mamba block: step equals forward, chunked forward equals full, the conv state, init, shapes, errors."""

import pytest
import torch
import torch.nn.functional as F

from archlab.ssm.mamba import MambaMixer, MambaState


def build(seed=0, **kw) -> MambaMixer:
    torch.manual_seed(seed)
    args = dict(d_model=8, d_state=4, d_conv=3, expand=2)
    return MambaMixer(**{**args, **kw}).double()


def randn(*shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def naive_mamba(m: MambaMixer, x: torch.Tensor) -> torch.Tensor:
    """The block written out from the paper's equations, one position at a time, without conv1d or the scan."""
    b, length, _ = x.shape
    x_in, z = m.in_proj(x).chunk(2, dim=-1)  # (B, L, E) x 2
    w = m.conv1d.weight[:, 0]  # (E, K)
    k = w.shape[1]
    padded = F.pad(x_in, (0, 0, k - 1, 0))  # (B, K - 1 + L, E)
    h = torch.zeros(b, m.d_inner, m.d_state, dtype=x.dtype)
    A = -torch.exp(m.A_log)
    ys = []
    for t in range(length):
        xc = F.silu((padded[:, t:t + k] * w.T).sum(1) + m.conv1d.bias)  # (B, E)
        dt, bt, ct = m.x_proj(xc).split((m.dt_rank, m.d_state, m.d_state), dim=-1)
        delta = F.softplus(dt @ m.dt_proj.weight.T + m.dt_proj.bias)  # (B, E)
        h = torch.exp(delta[..., None] * A) * h + delta[..., None] * bt[:, None] * xc[..., None]
        y = (h * ct[:, None]).sum(-1) + m.D * xc
        ys.append(m.out_proj(y * F.silu(z[:, t])))
    return torch.stack(ys, dim=1)


@pytest.mark.parametrize("scan", ["fast", "ref"])
def test_forward_matches_the_equations(scan):
    m = build(scan=scan)
    x = randn(2, 9, 8)
    torch.testing.assert_close(m(x), naive_mamba(m, x), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("d_conv", [1, 2, 4])
def test_step_equals_forward(d_conv):
    m = build(d_conv=d_conv)
    x = randn(3, 11, 8)
    state = m.init_state(3)
    steps = torch.stack([m.step(x[:, t], state)[0] for t in range(11)], dim=1)
    torch.testing.assert_close(steps, m(x), atol=1e-10, rtol=1e-10)


def test_chunked_forward_with_state_equals_full_forward():
    m = build()
    x = randn(2, 13, 8)
    state = m.init_state(2)
    parts = [m(x[:, :1], state=state), m(x[:, 1:6], state=state), m.step(x[:, 6], state)[0][:, None],
             m(x[:, 7:], state=state)]
    torch.testing.assert_close(torch.cat(parts, dim=1), m(x), atol=1e-10, rtol=1e-10)


def test_state_is_constant_size_and_holds_the_last_conv_inputs():
    m = build(d_conv=4)
    x = randn(2, 10, 8)
    state = m.init_state(2)
    sizes = set()
    for t in range(10):
        m.step(x[:, t], state)
        sizes.add((tuple(state.conv.shape), tuple(state.ssm.shape)))
    assert sizes == {((2, 16, 3), (2, 16, 4))}
    x_in = m.in_proj(x)[..., :16]  # (B, L, E): the conv branch
    torch.testing.assert_close(state.conv, x_in[:, -3:].transpose(1, 2))
    # the SSM state after the sequence is the scan's last state
    other = m.init_state(2)
    m(x, state=other)
    torch.testing.assert_close(other.ssm, state.ssm, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(other.conv, state.conv)


def test_output_is_causal():
    m = build()
    x = randn(1, 10, 8)
    y = m(x)
    x2 = x.clone()
    x2[:, 6:] += 1.0
    y2 = m(x2)
    torch.testing.assert_close(y[:, :6], y2[:, :6])
    assert (y[:, 6:] - y2[:, 6:]).abs().max() > 1e-3


def test_fast_scan_agrees_with_reference_scan_in_the_block():
    x = randn(2, 17, 8)
    torch.testing.assert_close(build(scan="fast")(x), build(scan="ref")(x), atol=1e-10, rtol=1e-10)


def test_init_follows_gu_and_dao():
    torch.manual_seed(0)
    m = MambaMixer(d_model=64, d_state=16, dt_min=1e-3, dt_max=0.1)
    assert m.d_inner == 128 and m.dt_rank == 4  # expand 2, ceil(64 / 16)
    torch.testing.assert_close(torch.exp(m.A_log), torch.arange(1, 17.0).repeat(128, 1))  # A = -(1..N)
    torch.testing.assert_close(m.D, torch.ones(128))
    dt = F.softplus(m.dt_proj.bias.detach())
    assert 1e-3 <= float(dt.min()) and float(dt.max()) <= 0.1  # softplus(bias) inverts back into [dt_min, dt_max]
    assert float(dt.log().std()) > 0.5  # spread log-uniformly over ~4.6 nats, not constant
    assert float(m.dt_proj.weight.detach().abs().max()) <= 4 ** -0.5


def test_parameter_count():
    m = MambaMixer(d_model=16, d_state=4, d_conv=4, expand=2)  # E = 32, R = 1
    expected = 16 * 64 + (32 * 4 + 32) + 32 * (1 + 8) + (1 * 32 + 32) + 32 * 4 + 32 + 32 * 16
    assert sum(p.numel() for p in m.parameters()) == expected


def test_carry_in_of_a_nonzero_state_is_linear():
    m = build()
    state = MambaState(conv=randn(2, 16, 2, seed=3), ssm=randn(2, 16, 4, seed=4))
    x = randn(2, 5, 8)
    stepped = MambaState(conv=state.conv.clone(), ssm=state.ssm.clone())
    steps = torch.stack([m.step(x[:, t], stepped)[0] for t in range(5)], dim=1)
    torch.testing.assert_close(m(x, state=state), steps, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(state.ssm, stepped.ssm, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kw, message", [
    (dict(d_state=0), "d_state=0 must be >= 1"),
    (dict(d_conv=0), "d_conv=0 must be >= 1"),
    (dict(expand=0), "expand=0 must be >= 1"),
    (dict(dt_rank=0), "dt_rank=0 must be >= 1"),
    (dict(dt_min=0.2, dt_max=0.1), "dt_min=0.2 and dt_max=0.1"),
    (dict(scan="cuda"), "scan='cuda' is not one of"),
])
def test_bad_arguments(kw, message):
    with pytest.raises(ValueError, match=message):
        MambaMixer(**{"d_model": 8, **kw})


def test_bad_inputs():
    m = build()
    with pytest.raises(ValueError, match=r"must be \(batch, length, 8\)"):
        m(randn(2, 8))
    with pytest.raises(ValueError, match=r"must be \(batch, 8\)"):
        m.step(randn(2, 3, 8), m.init_state(2))
