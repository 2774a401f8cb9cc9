"""RoPE (1D, 2D) against its defining properties and Hugging Face Llama; sin-cos tables; learned table."""

import math

import pytest
import torch

from archlab.core.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    RotaryEmbedding2D,
    apply_rope,
    rope_angles,
    rotate_half,
    sincos_1d,
    sincos_2d,
)


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- 1D RoPE


def test_rotate_half_layout():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert torch.equal(rotate_half(x), torch.tensor([-4.0, -5.0, -6.0, 1.0, 2.0, 3.0]))


def test_rope_matches_hand_formula():
    """Channel pair (i, i + d/2) at position p is rotated by p * base^(-2i/d)."""
    d, base = 8, 10000.0
    x = randn(1, 1, 5, d, dtype=torch.float64)
    out = RotaryEmbedding(d, max_len=16)(x, torch.arange(5))
    expected = torch.empty_like(x)
    for p in range(5):
        for i in range(d // 2):
            angle = p * base ** (-2 * i / d)
            a, b = x[0, 0, p, i], x[0, 0, p, i + d // 2]
            expected[0, 0, p, i] = a * math.cos(angle) - b * math.sin(angle)
            expected[0, 0, p, i + d // 2] = b * math.cos(angle) + a * math.sin(angle)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)  # tables are float32


def test_rope_matches_hugging_face_llama():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    d, n_heads, length = 16, 2, 7
    cfg = LlamaConfig(hidden_size=d * n_heads, num_attention_heads=n_heads, max_position_embeddings=32)
    hf_rope = LlamaRotaryEmbedding(cfg)
    q, k = randn(2, n_heads, length, d, seed=1), randn(2, n_heads, length, d, seed=2)
    positions = torch.tensor([0, 1, 2, 5, 9, 20, 31])
    cos, sin = hf_rope(q, positions[None].expand(2, -1))  # (B, L, Dh) each
    hf_q, hf_k = apply_rotary_pos_emb(q, k, cos, sin)
    ours = RotaryEmbedding(d, max_len=32)
    torch.testing.assert_close(ours(q, positions), hf_q, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(k, positions), hf_k, atol=1e-5, rtol=1e-5)


def test_rope_preserves_norms():
    x = randn(2, 3, 10, 8, dtype=torch.float64)
    out = RotaryEmbedding(8, max_len=64)(x, torch.arange(10) * 5)
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1))
    assert not torch.allclose(out[:, :, 1:], x[:, :, 1:])  # it does rotate
    torch.testing.assert_close(out[:, :, 0], x[:, :, 0])  # position 0 is the identity


@pytest.mark.parametrize("shift", [1, 7, 50])
def test_rope_dot_product_depends_only_on_offset(shift):
    rope = RotaryEmbedding(16, max_len=128)
    q, k = randn(1, 1, 1, 16, seed=1, dtype=torch.float64), randn(1, 1, 1, 16, seed=2, dtype=torch.float64)
    for m, n in [(3, 0), (10, 4), (5, 9)]:
        dot = (rope(q, torch.tensor([m])) * rope(k, torch.tensor([n]))).sum()
        shifted = (rope(q, torch.tensor([m + shift])) * rope(k, torch.tensor([n + shift]))).sum()
        torch.testing.assert_close(dot, shifted, atol=1e-5, rtol=0)
    # ... and does depend on the offset
    a = (rope(q, torch.tensor([3])) * rope(k, torch.tensor([0]))).sum()
    b = (rope(q, torch.tensor([4])) * rope(k, torch.tensor([0]))).sum()
    assert abs(float(a - b)) > 1e-3


def test_rope_beyond_max_len_computed_on_the_fly_and_matches_cache():
    small, large = RotaryEmbedding(8, max_len=4), RotaryEmbedding(8, max_len=64)
    x = randn(1, 2, 10, 8)
    positions = torch.arange(10)  # 0..9, past small's table
    torch.testing.assert_close(small(x, positions), large(x, positions), atol=0, rtol=0)
    # the on-the-fly table equals the cached one where they overlap
    cos, sin = rope_angles(torch.arange(4), 8)
    assert torch.equal(cos, small.cos) and torch.equal(sin, small.sin)


def test_rope_odd_dims_rejected():
    with pytest.raises(ValueError, match="head_dim=7 must be even"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match="dim=5 must be even"):
        rope_angles(torch.arange(3), 5)
    with pytest.raises(ValueError, match="head_dim=6 must be divisible by 4"):
        RotaryEmbedding2D(6)


def test_rope_2d_equals_1d_rope_on_each_half():
    d, height, width = 16, 3, 4
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()  # (L,) row-major grid
    x = randn(2, 2, height * width, d, dtype=torch.float64)
    out = RotaryEmbedding2D(d)(x, rows, cols)
    half = RotaryEmbedding(d // 2, max_len=16)
    torch.testing.assert_close(out[..., : d // 2], half(x[..., : d // 2], rows))
    torch.testing.assert_close(out[..., d // 2 :], half(x[..., d // 2 :], cols))
    # rows and columns are not interchangeable
    assert not torch.allclose(out, RotaryEmbedding2D(d)(x, cols, rows))


def test_apply_rope_keeps_dtype():
    cos, sin = rope_angles(torch.arange(3), 4)
    x = randn(1, 1, 3, 4).to(torch.bfloat16)
    assert apply_rope(x, cos, sin).dtype == torch.bfloat16


# ---------------------------------------------------------------- sin-cos tables


def test_sincos_1d_values():
    table = sincos_1d(6, 8)
    assert table.shape == (6, 8) and table.dtype == torch.float32
    assert torch.equal(table[0], torch.tensor([0.0, 1.0] * 4))  # sin 0, cos 0 interleaved
    # PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...): p = 3, i = 1, d = 8 -> 3 / 10000^0.25 = 0.3
    assert table[3, 2].item() == pytest.approx(math.sin(0.3), abs=1e-7)
    assert table[3, 3].item() == pytest.approx(math.cos(0.3), abs=1e-7)
    assert table[5, 0].item() == pytest.approx(math.sin(5.0), abs=1e-7)
    assert table[5, 7].item() == pytest.approx(math.cos(5 / 10000 ** 0.75), abs=1e-7)
    with pytest.raises(ValueError, match="dim=7 must be even"):
        sincos_1d(3, 7)


def test_sincos_2d_layout():
    height, width, d = 3, 5, 16
    table = sincos_2d(height, width, d)
    assert table.shape == (height * width, d)

    def one_axis(p):  # MAE: [sin(p w), cos(p w)] with w_i = 10000^(-i / (d/4)), i < d/4
        w = torch.tensor([10000.0 ** (-i / (d / 4)) for i in range(d // 4)], dtype=torch.float64)
        return torch.cat((torch.sin(p * w), torch.cos(p * w))).float()

    for r in range(height):
        for c in range(width):
            row = table[r * width + c]  # row-major
            torch.testing.assert_close(row[: d // 2], one_axis(c))  # first half: the column
            torch.testing.assert_close(row[d // 2 :], one_axis(r))  # second half: the row
    # same column -> same first half; same row -> same second half
    assert torch.equal(table[0, : d // 2], table[width, : d // 2])
    assert torch.equal(table[0, d // 2 :], table[width - 1, d // 2 :])
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(2, 2, 6)


# ---------------------------------------------------------------- learned


def test_learned_positional_embedding():
    torch.manual_seed(0)
    emb = LearnedPositionalEmbedding(5, 3)
    assert emb.weight.shape == (5, 3) and emb.weight.requires_grad
    assert 0.005 < emb.weight.std().item() < 0.05  # N(0, 0.02) init
    assert torch.equal(emb(torch.tensor([4, 0])), emb.weight[[4, 0]])
    with pytest.raises(ValueError, match="position 5 is past the learned table \\(max_len=5\\)"):
        emb(torch.arange(6))
