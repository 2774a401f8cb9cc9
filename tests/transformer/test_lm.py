"""DecoderLM: config rules, presets, pinned parameter counts, loss, step vs forward, generation, a short
training run."""

import math

import pytest
import torch
import torch.nn.functional as F

from archlab.core.attention import KVCache
from archlab.core.lm import KVCacheState
from archlab.core.mlp import MLP, SwiGLU
from archlab.core.norm import LayerNorm, RMSNorm
from archlab.core.positional import LearnedPositionalEmbedding
from archlab.transformer.lm import DecoderLM, LMConfig, LMOutput, gpt2_config, llama_config


TINY = dict(vocab_size=32, max_seq_len=16, d_model=16, n_layers=2, n_heads=4)
PRESETS = {
    "gpt2": lambda **kw: gpt2_config(**{**TINY, **kw}),
    "llama": lambda **kw: llama_config(**{**TINY, **kw}),
    "none": lambda **kw: LMConfig(**{**TINY, "position": "none", "mlp": "relu", **kw}),
}


def build(preset="gpt2", seed=0, **overrides) -> DecoderLM:
    torch.manual_seed(seed)
    return DecoderLM(PRESETS[preset](**overrides)).eval()


def ids(b=2, length=10, vocab=32, seed=1):
    return torch.randint(0, vocab, (b, length), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- config


@pytest.mark.parametrize("overrides, message", [
    (dict(vocab_size=0), "vocab_size=0 must be >= 1"),
    (dict(max_seq_len=0), "max_seq_len=0 must be >= 1"),
    (dict(n_layers=0), "n_layers=0 must be >= 1"),
    (dict(d_model=250, n_heads=8), "d_model=250 must be divisible by n_heads=8"),
    (dict(n_heads=8, n_kv_heads=3), "n_kv_heads=3 must be >= 1 and divide n_heads=8"),
    (dict(n_kv_heads=0), "n_kv_heads=0 must be >= 1"),
    (dict(d_ff=0), "d_ff=0 must be >= 1"),
    (dict(position="alibi"), "position='alibi' is not one of learned, rope, none"),
    (dict(norm="batchnorm"), "norm='batchnorm' is not one of layernorm, rmsnorm"),
    (dict(mlp="geglu"), "mlp='geglu' is not one of gelu, gelu_tanh, relu, swiglu, none"),
    (dict(position="rope", d_model=24, n_heads=8), r"head_dim=3 \(d_model/n_heads\) must be even for position='rope'"),
    (dict(dropout=1.0), r"dropout=1.0 must be in \[0, 1\)"),
    (dict(dropout=-0.1), r"dropout=-0.1 must be in \[0, 1\)"),
    (dict(norm_eps=0.0), "norm_eps=0.0 must be > 0"),
    (dict(init_std=-1.0), "init_std=-1.0 must be > 0"),
    (dict(rope_base=1.0), "rope_base=1.0 must be > 1"),
])
def test_config_rules(overrides, message):
    with pytest.raises(ValueError, match=message):
        LMConfig(**overrides)


def test_config_defaults_and_derived_sizes():
    c = LMConfig(d_model=64, n_heads=8)
    assert c.head_dim == 8 and c.kv_heads == 8 and c.ff_width == 256  # 4 * d_model for an MLP
    assert LMConfig(d_model=64, n_heads=8, n_kv_heads=2).kv_heads == 2
    assert LMConfig(d_ff=100).ff_width == 100
    # SwiGLU: 8/3 * d_model rounded up to a multiple of 32 (Llama's rule)
    assert LMConfig(d_model=16, n_heads=4, mlp="swiglu").ff_width == 64  # 42 -> 64
    assert LMConfig(d_model=96, n_heads=4, mlp="swiglu").ff_width == 256  # 256 exactly
    assert LMConfig(d_model=4096, n_heads=32, mlp="swiglu").ff_width == 10944  # 10922 -> 10944


def test_gpt2_preset():
    c = gpt2_config(**TINY)
    assert (c.position, c.norm, c.mlp, c.bias, c.tie_embeddings) == ("learned", "layernorm", "gelu_tanh", True, True)
    m = DecoderLM(c)
    assert m.lm_head.weight is m.tok_emb.weight
    assert isinstance(m.pos_emb, LearnedPositionalEmbedding)
    assert isinstance(m.norm_f, LayerNorm) and isinstance(m.blocks[0].norm1, LayerNorm)
    ff = m.blocks[0].feed_forward
    assert isinstance(ff, MLP) and ff.fc1.bias is not None
    assert torch.equal(ff.act(torch.tensor([1.0])), F.gelu(torch.tensor([1.0]), approximate="tanh"))
    assert m.blocks[0].mixer.qkv_proj.bias is not None and m.blocks[0].mixer.rope is None
    assert gpt2_config(**TINY, tie_embeddings=False).tie_embeddings is False  # overrides win


def test_llama_preset():
    c = llama_config(**{**TINY, "n_heads": 8, "d_model": 32})
    assert (c.position, c.norm, c.mlp, c.bias, c.tie_embeddings) == ("rope", "rmsnorm", "swiglu", False, False)
    assert c.n_kv_heads == 2 and c.norm_eps == 1e-6
    m = DecoderLM(c)
    assert m.lm_head.weight is not m.tok_emb.weight and m.pos_emb is None
    assert isinstance(m.norm_f, RMSNorm) and isinstance(m.blocks[0].norm1, RMSNorm)
    assert isinstance(m.blocks[0].feed_forward, SwiGLU)
    mixer = m.blocks[0].mixer
    assert mixer.rope is not None and mixer.n_kv_heads == 2 and mixer.qkv_proj.out_features == (8 + 2 * 2) * 4
    assert all(mod.bias is None for mod in m.modules() if isinstance(mod, torch.nn.Linear))
    assert llama_config(n_kv_heads=8).n_kv_heads == 8  # overrides win


@pytest.mark.parametrize("n_heads, expected", [(1, 1), (4, 1), (8, 2), (9, 1), (12, 3), (14, 2), (16, 4), (32, 8)])
def test_llama_preset_kv_heads_always_divide(n_heads, expected):
    assert llama_config(n_heads=n_heads, d_model=2 * n_heads).n_kv_heads == expected


# ---------------------------------------------------------------- parameter counts


def test_parameter_count_gpt2_pinned():
    """V D (tied table, counted once) + T D (positions) + 2 D (final LayerNorm)
    + L [ 2 * 2 D (two LayerNorms) + 4 (D^2 + D) (q, k, v, o with biases) + (D F + F) + (F D + D) (MLP) ]."""
    V, T, D, L, F_ = 32, 16, 16, 2, 64
    per_layer = 2 * 2 * D + 4 * (D * D + D) + (D * F_ + F_) + (F_ * D + D)
    expected = V * D + T * D + 2 * D + L * per_layer
    assert expected == 7360
    m = build("gpt2")
    assert m.num_parameters() == expected
    assert m.num_parameters(exclude_embeddings=True) == expected - V * D - T * D


def test_parameter_count_llama_pinned():
    """2 V D (untied table and head) + D (final RMSNorm)
    + L [ 2 D (two RMSNorms) + 2 D^2 (q, o) + 2 D Hkv Dh (k, v) + 3 D F (SwiGLU gate, up, down) ], no biases."""
    V, D, L, H, Dh = 32, 32, 3, 8, 4
    Hkv = H // 4
    F_ = 96  # 8 * 32 // 3 = 85, rounded up to a multiple of 32
    per_layer = 2 * D + 2 * D * D + 2 * D * Hkv * Dh + 3 * D * F_
    expected = 2 * V * D + D + L * per_layer
    assert expected == 37600
    m = build("llama", d_model=32, n_heads=8, n_layers=3)
    assert m.num_parameters() == expected
    assert m.num_parameters(exclude_embeddings=True) == expected - V * D


def test_init_scales_residual_projections():
    m = build("gpt2", d_model=64, n_layers=8, n_heads=4)
    std = m.config.init_std
    residual = std / math.sqrt(2 * 8)
    block = m.blocks[3]
    assert block.mixer.qkv_proj.weight.std().item() == pytest.approx(std, rel=0.1)
    assert block.mixer.o_proj.weight.std().item() == pytest.approx(residual, rel=0.1)
    assert block.feed_forward.fc2.weight.std().item() == pytest.approx(residual, rel=0.1)
    assert torch.equal(block.mixer.qkv_proj.bias, torch.zeros(3 * 64))


# ---------------------------------------------------------------- forward and loss


@pytest.mark.parametrize("preset", list(PRESETS))
def test_forward_shapes_and_loss(preset):
    m = build(preset)
    x = ids()
    out = m(x)
    assert isinstance(out, LMOutput) and out.logits.shape == (2, 10, 32) and out.loss is None
    labels = ids(seed=2)
    loss = m(x, labels=labels).loss
    expected = F.cross_entropy(out.logits.reshape(-1, 32), labels.reshape(-1))
    torch.testing.assert_close(loss, expected)
    # at init the logits are small, so the loss is close to log(V)
    assert abs(loss.item() - math.log(32)) < 0.1


def test_loss_ignores_minus_100():
    m = build("llama")
    x, labels = ids(), ids(seed=2)
    labels[0, :4] = -100
    labels[1, 7:] = -100
    logits = m(x).logits
    keep = labels != -100
    expected = F.cross_entropy(logits[keep], labels[keep])  # mean over the kept positions only
    torch.testing.assert_close(m(x, labels=labels).loss, expected)
    assert not torch.allclose(expected, F.cross_entropy(logits.reshape(-1, 32), labels.clamp(min=0).reshape(-1)))


def test_forward_is_causal():
    m = build("llama")
    x = ids()
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % 32
    a, b = m(x).logits, m(y).logits
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_int32_ids_accepted():
    m = build("gpt2")
    x = ids()
    torch.testing.assert_close(m(x.int()).logits, m(x).logits)


def test_forward_errors():
    m = build("gpt2")
    with pytest.raises(ValueError, match=r"\(batch, length\), got shape \(10,\)"):
        m(ids()[0])
    with pytest.raises(ValueError, match="integer token ids.*float32"):
        m(ids().float())
    with pytest.raises(ValueError, match=r"in \[0, 32\), got range \[0, 32\]"):
        m(torch.tensor([[0, 32]]))
    with pytest.raises(ValueError, match=r"in \[0, 32\), got range \[-1, 3\]"):
        m(torch.tensor([[-1, 3]]))
    with pytest.raises(ValueError, match="sequence of 17 tokens exceeds max_seq_len=16"):
        m(ids(length=17))
    state = m.init_state(2)
    m(ids(length=12), state=state)
    with pytest.raises(ValueError, match="sequence of 17 tokens exceeds max_seq_len=16"):
        m(ids(length=5), state=state)
    with pytest.raises(ValueError, match=r"shape \(batch,\), got \(2, 1\)"):
        m.step(ids(length=1), m.init_state(2))


# ---------------------------------------------------------------- step vs forward


@pytest.mark.parametrize("preset", list(PRESETS))
def test_step_equals_forward(preset):
    m = build(preset)
    x = ids(length=16)  # the full context
    full = m(x).logits
    state = m.init_state(2)
    assert isinstance(state, KVCacheState) and len(state.caches) == 2 and state.position == 0
    assert isinstance(state.caches[0], KVCache) and state.caches[0].k.shape == (2, m.config.kv_heads, 16, 4)
    stepped = []
    for t in range(16):
        logits, state = m.step(x[:, t], state)
        stepped.append(logits)
    assert state.position == 16
    assert (torch.stack(stepped, dim=1) - full).abs().max().item() < 1e-5


@pytest.mark.parametrize("preset", ["gpt2", "llama"])
def test_prefill_then_step_equals_forward(preset):
    m = build(preset)
    x = ids(length=12)
    full = m(x).logits
    state = m.init_state(2, max_len=12)
    prefill = m(x[:, :7], state=state).logits
    assert state.position == 7
    torch.testing.assert_close(prefill, full[:, :7], atol=1e-5, rtol=0)
    for t in range(7, 12):
        logits, state = m.step(x[:, t], state)
        assert (logits - full[:, t]).abs().max().item() < 1e-5
    with pytest.raises(ValueError, match="overflow"):
        m.step(x[:, 0], state)  # the cache was sized for 12 positions


# ---------------------------------------------------------------- generate


@pytest.mark.parametrize("preset", ["gpt2", "llama"])
def test_greedy_with_cache_equals_without(preset):
    m = build(preset)
    prompt = ids(length=4)
    cached = m.generate(prompt, 10, temperature=0)
    uncached = m.generate(prompt, 10, temperature=0, use_cache=False)
    assert cached.shape == (2, 14) and torch.equal(cached[:, :4], prompt)
    assert torch.equal(cached, uncached)
    # greedy: each new token is the argmax of the forward pass over what came before
    logits = m(cached[:, :-1]).logits
    assert torch.equal(cached[:, 4:], logits[:, 3:].argmax(-1))


def test_seeded_sampling_is_reproducible():
    m = build("llama")
    prompt = ids(length=3)

    def sample(seed, **kwargs):
        return m.generate(prompt, 8, temperature=1.5, generator=torch.Generator().manual_seed(seed), **kwargs)

    a = sample(0)
    assert torch.equal(a, sample(0))
    assert torch.equal(a, sample(0, use_cache=False))
    assert not torch.equal(a, sample(1))
    assert a.shape == (2, 11) and int(a.min()) >= 0 and int(a.max()) < 32
    top1 = m.generate(prompt, 8, top_k=1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(top1, m.generate(prompt, 8, temperature=0))  # top_k=1 is greedy


def test_generate_limits():
    m = build("gpt2")
    prompt = ids(length=6)
    assert torch.equal(m.generate(prompt, 0), prompt)
    assert m.generate(prompt, 10, temperature=0).shape == (2, 16)  # exactly fills max_seq_len
    with pytest.raises(ValueError, match="sequence of 17 tokens exceeds max_seq_len=16"):
        m.generate(prompt, 11)
    with pytest.raises(ValueError, match="max_new_tokens=-1 must be >= 0"):
        m.generate(prompt, -1)
    with pytest.raises(ValueError, match="temperature=-1"):
        m.generate(prompt, 2, temperature=-1)


# ---------------------------------------------------------------- training


def test_tiny_model_learns_a_repeated_pattern():
    torch.manual_seed(0)
    m = DecoderLM(llama_config(vocab_size=16, max_seq_len=16, d_model=32, n_layers=1, n_heads=4))
    pattern = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    seq = pattern.repeat(3)[None].expand(8, -1)  # (8, 24)
    offsets = torch.arange(8)  # one window per phase of the pattern
    windows = torch.stack([seq[0, o : o + 16] for o in offsets])  # (8, 16)
    x, y = windows[:, :-1], windows[:, 1:]
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    first = None
    for _ in range(50):
        loss = m(x, labels=y).loss
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(first - math.log(16)) < 0.1
    final = m(x, labels=y).loss.item()
    assert final < 0.05, final
    # and it continues the pattern greedily
    m.eval()
    out = m.generate(pattern[None, :4], 8, temperature=0)
    assert torch.equal(out[0], pattern.repeat(2)[:12])
