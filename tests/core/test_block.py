"""The pre-norm residual block."""

import pytest
import torch
from torch import nn

from archlab.core.block import Block
from archlab.core.mlp import MLP
from archlab.core.norm import LayerNorm, RMSNorm


class Scale(nn.Module):
    """A simple mixer, ``factor * x``, that records the keyword arguments it was given."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor, self.seen = factor, None

    def forward(self, x, **kwargs):
        self.seen = kwargs
        return self.factor * x


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_pre_norm_residual_formula():
    torch.manual_seed(0)
    ff = MLP(d_model=6, d_hidden=12).double()
    block = Block(d_model=6, mixer=Scale(2.0), feed_forward=ff).double()
    with torch.no_grad():
        block.norm1.weight.uniform_(0.5, 1.5)
        block.norm2.bias.uniform_(-1, 1)
    x = randn(2, 3, 6)
    h = x + 2.0 * block.norm1(x)
    expected = h + ff(block.norm2(h))
    torch.testing.assert_close(block(x), expected)
    assert isinstance(block.norm1, LayerNorm) and isinstance(block.norm2, LayerNorm)


def test_feed_forward_none_is_mixer_only():
    block = Block(d_model=6, mixer=Scale(-0.5), feed_forward=None, norm="rmsnorm").double()
    assert block.norm2 is None and isinstance(block.norm1, RMSNorm)
    x = randn(2, 3, 6)
    torch.testing.assert_close(block(x), x - 0.5 * block.norm1(x))


def test_mixer_kwargs_forwarded():
    mixer = Scale(1.0)
    block = Block(d_model=4, mixer=mixer, feed_forward=None)
    marker = torch.tensor([1, 2])
    block(torch.zeros(1, 2, 4), positions=marker, cache=None)
    assert mixer.seen["positions"] is marker and "cache" in mixer.seen


def test_norm_options_forwarded():
    block = Block(d_model=4, mixer=Scale(1.0), feed_forward=nn.Identity(), norm_eps=1e-3, norm_bias=False)
    assert block.norm1.eps == 1e-3 and block.norm1.bias is None and block.norm2.bias is None


def test_post_norm_residual_formula():
    torch.manual_seed(0)
    ff = MLP(d_model=6, d_hidden=12).double()
    block = Block(d_model=6, mixer=Scale(2.0), feed_forward=ff, norm_position="post").double()
    with torch.no_grad():
        block.norm1.weight.uniform_(0.5, 1.5)
        block.norm2.bias.uniform_(-1, 1)
    x = randn(2, 3, 6)
    h = block.norm1(x + 2.0 * x)
    expected = block.norm2(h + ff(h))
    torch.testing.assert_close(block(x), expected)
    assert not torch.allclose(expected, Block(d_model=6, mixer=Scale(2.0), feed_forward=ff).double()(x))


def test_norm_position_must_be_pre_or_post():
    import pytest

    with pytest.raises(ValueError, match="norm_position='middle' is not one of 'pre', 'post'"):
        Block(d_model=4, mixer=Scale(1.0), feed_forward=None, norm_position="middle")


class CumulativeSum(nn.Module):
    """A recurrent mixer: y_t = a * sum_{s<=t} x_s, with the running sum as its state."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.linspace(0.5, 1.5, d_model))

    def forward(self, x):
        return self.a * x.cumsum(dim=1)  # (B, L, D)

    def step(self, x, state):
        state = state + x  # (B, D)
        return self.a * state, state


def test_step_equals_forward_position_by_position():
    torch.manual_seed(0)
    block = Block(d_model=6, mixer=CumulativeSum(6), feed_forward=MLP(d_model=6, d_hidden=12)).double()
    x = randn(2, 5, 6)
    state = torch.zeros(2, 6, dtype=torch.float64)
    steps = []
    for t in range(5):
        y, state = block.step(x[:, t], state)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps, dim=1), block(x))
    torch.testing.assert_close(state, block.norm1(x).sum(dim=1))  # the mixer's state: the sum of its inputs


def test_step_needs_pre_norm():
    block = Block(d_model=6, mixer=CumulativeSum(6), feed_forward=None, norm_position="post")
    with pytest.raises(ValueError, match="step needs norm_position='pre', got 'post'"):
        block.step(torch.zeros(1, 6), torch.zeros(1, 6))
