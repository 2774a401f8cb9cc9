"""LayerNorm, RMSNorm and AdaLayerNorm against torch.nn and the written formulas."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archlab.core.norm import AdaLayerNorm, LayerNorm, RMSNorm, make_norm


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 3 + 1


def randomise(module, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_equals_torch(bias):
    ours = randomise(LayerNorm(6, eps=1e-3, bias=bias).double())
    ref = nn.LayerNorm(6, eps=1e-3, bias=bias).double()
    ref.load_state_dict(ours.state_dict())
    x = randn(2, 5, 6)
    torch.testing.assert_close(ours(x), ref(x))
    assert (ours.bias is None) == (not bias)
    assert len(list(ours.parameters())) == (2 if bias else 1)


def test_layernorm_hand_formula():
    ours = randomise(LayerNorm(4, eps=1e-5).double())
    x = randn(3, 4)
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(ours(x), (x - mean) / torch.sqrt(var + 1e-5) * ours.weight + ours.bias)


def test_rmsnorm_hand_formula_and_torch():
    ours = randomise(RMSNorm(6, eps=1e-6).double())
    x = randn(2, 5, 6)
    expected = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * ours.weight
    torch.testing.assert_close(ours(x), expected, atol=1e-6, rtol=1e-6)  # computed in float32
    # it does not centre: adding a constant changes the output (a LayerNorm would not)
    assert not torch.allclose(ours(x + 5), ours(x))
    if hasattr(nn, "RMSNorm"):
        ref = nn.RMSNorm(6, eps=1e-6).double()
        ref.load_state_dict(ours.state_dict())
        torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=1e-6)


def test_rmsnorm_computes_in_float32_and_returns_input_dtype():
    norm = RMSNorm(8)
    x = randn(2, 8, dtype=torch.float32).to(torch.bfloat16)
    out = norm.to(torch.bfloat16)(x)
    assert out.dtype == torch.bfloat16
    x32 = x.float()
    expected = (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-6)).to(torch.bfloat16)
    assert torch.equal(out, expected)


def test_adalayernorm_starts_as_plain_layer_norm():
    ada = AdaLayerNorm(6, cond_dim=3).double()
    x, cond = randn(2, 4, 6), randn(2, 3, seed=1)
    plain = F.layer_norm(x, (6,), eps=1e-6)
    torch.testing.assert_close(ada(x, cond), plain)
    torch.testing.assert_close(ada(x[:, 0], cond), plain[:, 0])  # (B, D) input too


def test_adalayernorm_modulation_formula():
    ada = randomise(AdaLayerNorm(6, cond_dim=3).double())
    x, cond = randn(2, 4, 6), randn(2, 3, seed=1)
    shift, scale = (cond @ ada.modulation.weight.T + ada.modulation.bias).chunk(2, dim=-1)  # (B, D) each
    expected = F.layer_norm(x, (6,), eps=1e-6) * (1 + scale[:, None]) + shift[:, None]
    torch.testing.assert_close(ada(x, cond), expected)
    # each sequence is modulated by its own condition
    assert not torch.allclose(ada(x, cond)[0], ada(x, cond.flip(0))[0])


def test_make_norm():
    assert isinstance(make_norm("layernorm", 4), LayerNorm)
    assert make_norm("layernorm", 4, bias=False).bias is None
    rms = make_norm("rmsnorm", 4, eps=1e-3)
    assert isinstance(rms, RMSNorm) and rms.eps == 1e-3
    with pytest.raises(ValueError, match="norm='batchnorm' is not one of 'layernorm', 'rmsnorm'"):
        make_norm("batchnorm", 4)
