"""attention (SDPA) against attention_ref and a hand loop; masks; KV cache; MultiHeadAttention."""

import math

import pytest
import torch

from archlab.core.attention import (
    KVCache,
    MultiHeadAttention,
    attention,
    attention_ref,
    causal_mask,
    padding_mask_to_attention,
    repeat_kv,
)
from archlab.core.positional import RotaryEmbedding

TOL = {torch.float64: dict(atol=1e-12, rtol=1e-10), torch.float32: dict(atol=1e-5, rtol=1e-5)}


def qkv(b, h, h_kv, lq, lk, d, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, lq, d, generator=g, dtype=dtype)
    k = torch.randn(b, h_kv, lk, d, generator=g, dtype=dtype)
    v = torch.randn(b, h_kv, lk, d, generator=g, dtype=dtype)
    return q, k, v


def loop_attention(q, k, v, allowed=None):
    """softmax(q.k / sqrt(d)) v written out element by element; kv head of query head h is h // (H / Hkv)."""
    q, k, v = q.detach(), k.detach(), v.detach()
    b, h, lq, d = q.shape
    h_kv, lk = k.shape[1], k.shape[2]
    out = torch.zeros_like(q)
    for bi in range(b):
        for hi in range(h):
            kh = hi // (h // h_kv)
            for i in range(lq):
                scores = [
                    float((q[bi, hi, i] * k[bi, kh, j]).sum()) / math.sqrt(d)
                    if allowed is None or allowed[i][j]
                    else -math.inf
                    for j in range(lk)
                ]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                for j in range(lk):
                    out[bi, hi, i] += weights[j] / total * v[bi, kh, j]
    return out


# ---------------------------------------------------------------- reference formula


def test_attention_ref_equals_hand_loop():
    q, k, v = qkv(2, 4, 2, 3, 5, 4)
    torch.testing.assert_close(attention_ref(q, k, v), loop_attention(q, k, v), atol=1e-12, rtol=0)


def test_attention_ref_equals_hand_loop_causal_end_aligned():
    q, k, v = qkv(1, 2, 1, 2, 4, 3)
    allowed = [[j <= i + 2 for j in range(4)] for i in range(2)]  # Lk - Lq = 2
    expected = loop_attention(q, k, v, allowed)
    torch.testing.assert_close(attention_ref(q, k, v, causal=True), expected, atol=1e-12, rtol=0)


def test_attention_ref_equals_einsum_softmax():
    q, k, v = qkv(2, 3, 3, 4, 6, 5)
    scores = torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(5)  # (B, H, Lq, Lk)
    expected = torch.einsum("bhij,bhjd->bhid", scores.softmax(-1), v)  # (B, H, Lq, Dh)
    torch.testing.assert_close(attention_ref(q, k, v), expected, atol=1e-12, rtol=0)


def test_scale_argument_is_used():
    q, k, v = qkv(1, 2, 2, 3, 3, 4)
    # scale 0 makes every weight equal: the output is the mean of the values.
    out = attention_ref(q, k, v, scale=0.0)
    torch.testing.assert_close(out, v.mean(dim=2, keepdim=True).expand_as(out))
    torch.testing.assert_close(attention(q, k, v, scale=0.3), attention_ref(q, k, v, scale=0.3), **TOL[torch.float64])
    assert not torch.allclose(attention_ref(q, k, v, scale=0.3), attention_ref(q, k, v))


# ---------------------------------------------------------------- SDPA vs reference


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("h, h_kv", [(4, 4), (4, 2), (6, 2), (6, 3), (8, 2), (4, 1)], ids=lambda x: str(x))
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_equals_ref_mha_gqa_mqa(dtype, h, h_kv, causal):
    q, k, v = qkv(2, h, h_kv, 5, 5, 8, dtype)
    torch.testing.assert_close(attention(q, k, v, causal=causal), attention_ref(q, k, v, causal=causal), **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gqa_equals_mha_with_repeated_heads(dtype):
    q, k, v = qkv(2, 6, 2, 4, 4, 8, dtype)
    k_rep, v_rep = k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1)  # (B, 6, L, Dh)
    expected = attention_ref(q, k_rep, v_rep, causal=True)
    torch.testing.assert_close(attention(q, k, v, causal=True), expected, **TOL[dtype])
    torch.testing.assert_close(attention_ref(q, k, v, causal=True), expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("lq, lk", [(1, 7), (3, 7), (7, 7)])
def test_causal_end_aligned_matches_manual_mask_and_sliced_full(dtype, lq, lk):
    q_full, k, v = qkv(2, 4, 2, lk, lk, 8, dtype)
    q = q_full[:, :, -lq:]
    manual = torch.tensor([[j <= i + (lk - lq) for j in range(lk)] for i in range(lq)])
    assert torch.equal(causal_mask(lq, lk), manual)
    expected = attention_ref(q, k, v, mask=manual)
    sliced_full = attention_ref(q_full, k, v, causal=True)[:, :, -lq:]
    for fn in (attention, attention_ref):
        out = fn(q, k, v, causal=True)
        torch.testing.assert_close(out, expected, **TOL[dtype])
        torch.testing.assert_close(out, sliced_full, **TOL[dtype])


def test_causal_mask_is_lower_triangular_when_square():
    assert torch.equal(causal_mask(4, 4), torch.ones(4, 4, dtype=torch.bool).tril())


def test_causal_future_keys_have_no_influence():
    q, k, v = qkv(1, 2, 2, 5, 5, 4)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 3:] += 10.0
    v2[:, :, 3:] -= 10.0
    a, b = attention(q, k, v, causal=True), attention(q, k2, v2, causal=True)
    torch.testing.assert_close(a[:, :, :3], b[:, :, :3])
    assert not torch.allclose(a[:, :, 3:], b[:, :, 3:])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("causal", [False, True])
def test_padding_mask_sdpa_equals_ref(dtype, causal):
    q, k, v = qkv(3, 4, 2, 6, 6, 8, dtype)
    keep = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    mask = padding_mask_to_attention(keep)  # (B, 1, 1, Lk)
    assert mask.shape == (3, 1, 1, 6)
    out = attention(q, k, v, mask=mask, causal=causal)
    torch.testing.assert_close(out, attention_ref(q, k, v, mask=mask, causal=causal), **TOL[dtype])
    # a padded sequence gives the same result as the same sequence truncated to its real keys
    truncated = attention_ref(q[2:], k[2:, :, :2], v[2:, :, :2], mask=causal_mask(6, 6)[:, :2] if causal else None)
    torch.testing.assert_close(out[2:], truncated, **TOL[dtype])


def test_padding_mask_must_be_2d():
    with pytest.raises(ValueError, match="padding_mask"):
        padding_mask_to_attention(torch.ones(2, 1, 5, dtype=torch.bool))


def test_row_with_no_allowed_key_gives_zeros_in_both():
    q, k, v = qkv(1, 2, 2, 3, 3, 4)
    mask = torch.tensor([[True, True, True], [False, False, False], [True, False, True]])
    fast, ref = attention(q, k, v, mask=mask), attention_ref(q, k, v, mask=mask)
    torch.testing.assert_close(fast, ref)
    assert torch.isfinite(ref).all()
    assert torch.equal(ref[:, :, 1], torch.zeros_like(ref[:, :, 1]))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("h, h_kv", [(4, 4), (4, 2), (4, 1)], ids=str)
def test_cross_attention_shapes_sdpa_equals_ref(dtype, h, h_kv):
    q, k, v = qkv(2, h, h_kv, 3, 9, 8, dtype)
    out = attention(q, k, v)
    assert out.shape == (2, h, 3, 8)
    torch.testing.assert_close(out, attention_ref(q, k, v), **TOL[dtype])
    keep = torch.ones(2, 9, dtype=torch.bool)
    keep[1, 5:] = False
    m = padding_mask_to_attention(keep)
    torch.testing.assert_close(attention(q, k, v, mask=m), attention_ref(q, k, v, mask=m), **TOL[dtype])


def test_attention_shape_errors():
    q, k, v = qkv(1, 4, 2, 3, 3, 4)
    with pytest.raises(ValueError, match="batch, heads, length, head_dim"):
        attention(q[0], k, v)
    with pytest.raises(ValueError, match="same shape"):
        attention_ref(q, k, v[:, :, :2])
    q3, k2, v2 = qkv(1, 3, 2, 3, 3, 4)
    with pytest.raises(ValueError, match="multiple of key/value heads 2"):
        attention(q3, k2, v2)


# ---------------------------------------------------------------- repeat_kv and KVCache


def test_repeat_kv_semantics():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    assert repeat_kv(x, 1) is x
    r = repeat_kv(x, 2)
    assert r.shape == (2, 6, 4, 5)
    for h in range(6):
        assert torch.equal(r[:, h], x[:, h // 2])  # heads grouped: 0,0,1,1,2,2
    assert torch.equal(r, x.repeat_interleave(2, dim=1))


def test_kv_cache_update_appends_and_overflows():
    cache = KVCache(batch=2, n_kv_heads=3, head_dim=4, max_len=5, dtype=torch.float64)
    assert cache.max_len == 5 and cache.length == 0 and cache.k.dtype == torch.float64
    k1, v1 = torch.randn(2, 3, 2, 4, dtype=torch.float64), torch.randn(2, 3, 2, 4, dtype=torch.float64)
    k, v = cache.update(k1, v1)
    assert cache.length == 2 and torch.equal(k, k1) and torch.equal(v, v1)
    k2, v2 = torch.randn(2, 3, 3, 4, dtype=torch.float64), torch.randn(2, 3, 3, 4, dtype=torch.float64)
    k, v = cache.update(k2, v2)
    assert cache.length == 5
    assert torch.equal(k, torch.cat((k1, k2), dim=2)) and torch.equal(v, torch.cat((v1, v2), dim=2))
    with pytest.raises(ValueError, match="overflow.*6 positions exceed max_len=5"):
        cache.update(k2[:, :, :1], v2[:, :, :1])
    assert cache.length == 5  # a failed update leaves the cache as it was


# ---------------------------------------------------------------- MultiHeadAttention


def mha(seed=0, **kwargs):
    torch.manual_seed(seed)
    return MultiHeadAttention(**{"d_model": 16, "n_heads": 4, **kwargs}).double()


def x_in(b=2, length=6, d=16, seed=1):
    return torch.randn(b, length, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("kwargs", [
    dict(), dict(causal=True), dict(n_kv_heads=2, causal=True), dict(n_kv_heads=1),
    dict(causal=True, rope=RotaryEmbedding(4, max_len=16)), dict(head_dim=8, n_kv_heads=2, causal=True),
], ids=["mha", "causal", "gqa", "mqa", "rope", "head_dim"])
def test_mha_sdpa_equals_ref(kwargs):
    a = mha(**kwargs)
    b = mha(**kwargs, implementation="ref")
    b.load_state_dict(a.state_dict())
    x = x_in()
    keep = torch.ones(2, 6, dtype=torch.bool)
    keep[1, 4:] = False
    torch.testing.assert_close(a(x), b(x), **TOL[torch.float64])
    torch.testing.assert_close(a(x, padding_mask=keep), b(x, padding_mask=keep), **TOL[torch.float64])


def test_mha_equals_manual_projection_formula():
    m = mha(n_kv_heads=2, causal=True)
    x = x_in()
    w_q, w_k, w_v = m.qkv_proj.weight.split((16, 8, 8))  # rows: 4 query heads, 2 key heads, 2 value heads
    b_q, b_k, b_v = m.qkv_proj.bias.split((16, 8, 8))
    q = (x @ w_q.T + b_q).view(2, 6, 4, 4).transpose(1, 2)  # (B, H, L, Dh)
    k = (x @ w_k.T + b_k).view(2, 6, 2, 4).transpose(1, 2)  # (B, Hkv, L, Dh)
    v = (x @ w_v.T + b_v).view(2, 6, 2, 4).transpose(1, 2)
    o = loop_attention(q, k, v, allowed=[[j <= i for j in range(6)] for i in range(6)])  # (B, H, L, Dh)
    expected = o.transpose(1, 2).reshape(2, 6, 16) @ m.o_proj.weight.T + m.o_proj.bias
    torch.testing.assert_close(m(x), expected, **TOL[torch.float64])


@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("n_kv_heads", [4, 2])
def test_mha_incremental_decoding_equals_full_forward(rope, n_kv_heads):
    m = mha(causal=True, n_kv_heads=n_kv_heads, rope=RotaryEmbedding(4, max_len=16) if rope else None)
    x = x_in(length=7)
    full = m(x)
    cache = KVCache(batch=2, n_kv_heads=n_kv_heads, head_dim=4, max_len=7, dtype=torch.float64)
    steps = [m(x[:, t : t + 1], cache=cache) for t in range(7)]
    assert cache.length == 7
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL[torch.float64])
    # a prefilled chunk followed by single tokens agrees too
    cache = KVCache(batch=2, n_kv_heads=n_kv_heads, head_dim=4, max_len=7, dtype=torch.float64)
    out = [m(x[:, :4], cache=cache)] + [m(x[:, t : t + 1], cache=cache) for t in range(4, 7)]
    torch.testing.assert_close(torch.cat(out, dim=1), full, **TOL[torch.float64])


def test_mha_rope_explicit_positions_equal_implicit():
    m = mha(causal=True, rope=RotaryEmbedding(4, max_len=16))
    x = x_in()
    torch.testing.assert_close(m(x), m(x, positions=torch.arange(6)))
    # RoPE is relative: shifting every position leaves self-attention unchanged; stretching them does not
    torch.testing.assert_close(m(x), m(x, positions=torch.arange(6) + 3), atol=1e-6, rtol=1e-6)  # float32 tables
    assert not torch.allclose(m(x), m(x, positions=torch.arange(6) * 2))


def test_mha_cross_attention():
    m = mha(d_context=10)
    x, ctx = x_in(length=3), torch.randn(2, 9, 10, dtype=torch.float64)
    out = m(x, context=ctx)
    assert out.shape == (2, 3, 16)
    ref = mha(d_context=10, implementation="ref")
    ref.load_state_dict(m.state_dict())
    keep = torch.ones(2, 9, dtype=torch.bool)
    keep[0, 6:] = False
    torch.testing.assert_close(out, ref(x, context=ctx), **TOL[torch.float64])
    masked = m(x, context=ctx, padding_mask=keep)
    torch.testing.assert_close(masked, ref(x, context=ctx, padding_mask=keep), **TOL[torch.float64])
    # the masked context positions are ignored: dropping them gives the same output for batch 0
    torch.testing.assert_close(masked[:1], m(x[:1], context=ctx[:1, :6]), **TOL[torch.float64])


def test_mha_errors():
    with pytest.raises(ValueError, match="d_model=10 must be divisible by n_heads=4"):
        MultiHeadAttention(d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="n_heads=4 must be divisible by n_kv_heads=3"):
        MultiHeadAttention(d_model=16, n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="implementation='flash'"):
        MultiHeadAttention(d_model=16, n_heads=4, implementation="flash")
    with pytest.raises(ValueError, match="cross-attention"):
        MultiHeadAttention(d_model=16, n_heads=4, d_context=8, causal=True)
    m = mha()
    with pytest.raises(ValueError, match=r"\(batch, length, d_model\), got shape \(6, 16\)"):
        m(x_in()[0])
    with pytest.raises(ValueError, match="context is only for cross-attention"):
        m(x_in(), context=x_in())
    with pytest.raises(ValueError, match="cross-attention needs context"):
        mha(d_context=8)(x_in())
