"""Mamba and hybrid language models: config rules, layer layout, step vs forward, save/load, generation,
a short training run."""

import json

import pytest
import torch

from archlab.core.attention import KVCache, MultiHeadAttention
from archlab.core.io import load_pretrained
from archlab.ssm.lm import ConvAttention, MambaLM, MambaLMConfig, interleaved_layers
from archlab.ssm.mamba import MambaMixer, MambaState


def mamba(seed=0, n_layers=2, **kw) -> MambaLM:
    torch.manual_seed(seed)
    args = dict(vocab_size=32, d_model=16, layers=("mamba",) * n_layers, d_state=4)
    return MambaLM(MambaLMConfig(**{**args, **kw})).eval()


def hybrid(seed=0, n_layers=4, attn_every=2, attn_offset=1, **kw) -> MambaLM:
    """Mamba and attention alternating, SwiGLU feed-forwards (the hybrid's usual layout, Jamba-style)."""
    torch.manual_seed(seed)
    layers = interleaved_layers(n_layers, attention_every=attn_every, attention_offset=attn_offset)
    args = dict(vocab_size=32, d_model=16, layers=layers, d_state=4, n_heads=2, mlp="swiglu", max_seq_len=32)
    return MambaLM(MambaLMConfig(**{**args, **kw})).eval()


def ids(b=2, length=12, seed=1):
    return torch.randint(0, 32, (b, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("overrides, message", [
    (dict(vocab_size=0), "vocab_size=0 must be >= 1"),
    (dict(layers=()), r"layers=\(\) must name at least one layer"),
    (dict(layers=("mamba", "lstm")), r"layers\[1\]='lstm' is not one of mamba, attention"),
    (dict(d_state=0), "d_state=0 must be >= 1"),
    (dict(dt_rank=0), "dt_rank=0 must be >= 1"),
    (dict(mlp="gelu"), "mlp='gelu' is not one of none, swiglu"),
    (dict(scan="cuda"), "scan='cuda' is not one of fast, ref"),
    (dict(dt_min=0.5, dt_max=0.1), "dt_min=0.5 and dt_max=0.1 must satisfy"),
    (dict(norm_eps=0.0), "norm_eps=0.0 must be > 0"),
    (dict(position="alibi"), "position='alibi' is not one of none, rope, sincos"),
    (dict(max_seq_len=0), "max_seq_len=0 must be >= 1"),
    (dict(attn_conv=-1), "attn_conv=-1 must be >= 0"),
    (dict(layers=("attention",), max_seq_len=None), "max_seq_len=None: attention layers need a bound"),
    (dict(layers=("attention",), max_seq_len=8, d_model=30, n_heads=4), "d_model=30 must be divisible by n_heads=4"),
    (dict(layers=("attention",), max_seq_len=8, d_model=12, n_heads=4, position="rope"),
     "head_dim=3 .* must be even"),
])
def test_config_rules(overrides, message):
    with pytest.raises(ValueError, match=message):
        MambaLMConfig(**overrides)


def test_attention_rules_apply_only_with_attention_layers():
    config = MambaLMConfig(d_model=30, n_heads=4)  # pure Mamba: n_heads is unused, and no length bound
    assert config.n_layers == 4 and config.max_seq_len is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_layers=4, attention_every=0), "attention_every=0 must be >= 1"),
    (dict(n_layers=4, attention_every=4, attention_offset=4),
     r"attention_offset=4 must be in \[0, attention_every=4\)"),
])
def test_interleaved_layers_rules(kwargs, message):
    with pytest.raises(ValueError, match=message):
        interleaved_layers(**kwargs)


def test_hybrid_layout_is_jamba_style():
    jamba = interleaved_layers(8, attention_every=8, attention_offset=4)
    assert jamba == ("mamba",) * 4 + ("attention",) + ("mamba",) * 3  # 1 in 8, offset 4
    assert interleaved_layers(16, attention_every=8, attention_offset=4).count("attention") == 2
    assert interleaved_layers(3, attention_every=1) == ("attention",) * 3
    assert MambaLMConfig(layers=["mamba", "attention"], max_seq_len=8).layers == ("mamba", "attention")  # a list
    model = hybrid()
    kinds = [type(b.mixer) for b in model.backbone.blocks]
    assert kinds == [MambaMixer, MultiHeadAttention, MambaMixer, MultiHeadAttention]
    assert all(b.feed_forward is not None for b in model.backbone.blocks)
    assert all(b.feed_forward is None for b in mamba().backbone.blocks)  # Mamba: no MLP by default


def test_pinned_parameter_count():
    # embedding 32*16 (tied head), per layer: norm 16 + mixer (16*64 + 32*4+32 + 32*9 + 32+32 + 32*4 + 32 + 32*16),
    # final norm 16
    mixer = 16 * 64 + 32 * 4 + 32 + 32 * 9 + 32 + 32 + 32 * 4 + 32 + 32 * 16
    assert mamba().num_parameters() == 32 * 16 + 2 * (16 + mixer) + 16


def test_pinned_parameter_count_of_the_hybrid():
    # Mamba layers as above; attention layer: norm 16 + qkv 16*48 + o 16*16; SwiGLU (width 64, 8/3 * 16 rounded
    # up to 32) 3 * 16*64 with its norm 16 in every layer
    mixer = 16 * 64 + 32 * 4 + 32 + 32 * 9 + 32 + 32 + 32 * 4 + 32 + 32 * 16
    attention = 16 * 48 + 16 * 16
    swiglu = 16 + 3 * 16 * 64
    expected = 32 * 16 + 2 * (16 + mixer) + 2 * (16 + attention) + 4 * swiglu + 16
    assert hybrid().num_parameters() == expected


def test_residual_projections_are_rescaled():
    torch.manual_seed(0)
    one = MambaLM(MambaLMConfig(d_model=64, layers=("mamba",))).backbone.blocks[0].mixer.out_proj.weight.std()
    torch.manual_seed(0)
    many = MambaLM(MambaLMConfig(d_model=64, layers=("mamba",) * 16)).backbone.blocks[0].mixer.out_proj.weight.std()
    assert float(one.detach() / many.detach()) == pytest.approx(4.0, rel=0.05)  # 1 / sqrt(n_layers)


@pytest.mark.parametrize("build", [mamba, hybrid, lambda: hybrid(position="rope"),
                                   lambda: hybrid(attn_every=1, attn_offset=0, position="sincos", mlp="none"),
                                   lambda: hybrid(attn_conv=3), lambda: hybrid(attn_every=1, attn_offset=0,
                                                                               position="rope", attn_conv=4)])
def test_step_and_chunks_equal_forward(build):
    model = build()
    x = ids(2, 12)
    with torch.no_grad():
        full = model(x).logits
        state = model.init_state(2)
        steps = torch.stack([model.step(x[:, t], state)[0] for t in range(12)], dim=1)
        state = model.init_state(2)
        chunks = torch.cat([model(x[:, :5], state=state).logits, model(x[:, 5:], state=state).logits], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(chunks, full, atol=1e-5, rtol=1e-5)
    assert state.position == 12


def test_state_layers_mamba_constant_attention_growing():
    model = hybrid()
    state = model.init_state(2)
    kinds = [type(s) for s in state.layers]
    assert kinds == [MambaState, KVCache, MambaState, KVCache]
    with torch.no_grad():
        model(ids(2, 7), state=state)
    assert state.layers[0].ssm.shape == (2, 32, 4) and state.layers[1].length == 7


def test_loss_is_cross_entropy_of_the_logits():
    model = mamba()
    x, y = ids(2, 10), ids(2, 10, seed=2)
    y[0, :3] = -100
    out = model(x, labels=y)
    expected = torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), y.flatten(), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)


def test_bad_ids():
    model = hybrid()
    with pytest.raises(ValueError, match=r"input_ids must be \(batch, length\)"):
        model(ids(2, 4)[0])
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 32\)"):
        model(torch.tensor([[0, 32]]))
    with pytest.raises(ValueError, match="sequence of 33 tokens exceeds max_seq_len=32"):
        model(ids(1, 33))
    with pytest.raises(ValueError, match="one token per sequence"):
        model.step(ids(2, 2), model.init_state(2))


@pytest.mark.parametrize("build", [mamba, hybrid])
def test_save_and_load(tmp_path, build):
    model = build()
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert type(loaded) is type(model) and loaded.config == model.config
    torch.testing.assert_close(loaded.eval()(ids()).logits, model(ids()).logits)


def test_generate_greedy_continues_with_the_argmax():
    model = mamba()
    prompt = ids(2, 4)
    out = model.generate(prompt, 6, temperature=0.0)
    assert out.shape == (2, 10) and torch.equal(out[:, :4], prompt)
    with torch.no_grad():
        logits = model(out).logits
    torch.testing.assert_close(out[:, 4:], logits[:, 3:-1].argmax(-1))
    assert torch.equal(model.generate(prompt, 0), prompt)


def test_training_lowers_the_loss():
    model = mamba(n_layers=1).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = ids(4, 16)
    first = None
    for _ in range(30):
        loss = model(x[:, :-1], labels=x[:, 1:]).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_short_convolution_before_attention_is_causal_and_sees_predecessors():
    model = hybrid(attn_every=1, attn_offset=0, position="rope", attn_conv=3, mlp="none")
    assert all(isinstance(b.mixer, ConvAttention) for b in model.backbone.blocks)
    x = ids(1, 12)
    x2 = x.clone()
    x2[0, 7] = (x2[0, 7] + 1) % 32
    with torch.no_grad():
        a, b = model(x).logits, model(x2).logits
        conv = model.backbone.blocks[0].mixer.conv
        h = torch.zeros(1, 16, 6)
        h[0, :, 2] = 1.0  # one impulse at position 2 reaches positions 2, 3, 4 (kernel 3) and no earlier one
        seen = (conv(h)[..., :6] - conv.bias[:, None]).abs().sum(1)[0]  # (B, D, L) -> (L,)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])
    assert (seen[:2] == 0).all() and (seen[2:5] > 0).all() and seen[5] == 0


def test_sincos_positions_are_added_to_embeddings_scaled_by_sqrt_d():
    """Vaswani et al. 2017, Sec. 3.4: the token part of the input is the embedding times sqrt(d_model), the rest
    is the sin-cos row of the absolute position (also when decoding continues at ``past``)."""
    from archlab.core.positional import sincos_1d

    model = hybrid(attn_every=1, attn_offset=0, position="sincos", mlp="none")
    x = ids(2, 5)
    with torch.no_grad():
        h = model.backbone._embed(x, past=3)  # (B, 5, D)
        token_part = h - sincos_1d(8, 16)[3:]  # (B, 5, D) - (5, D)
        torch.testing.assert_close(token_part, model.backbone.embedding(x) * 4.0)


def test_a_save_from_before_layers_loads(tmp_path):
    """Saves written before ``layers`` existed name ``n_layers`` (all Mamba); they load as the same model."""
    model = mamba(n_layers=3)
    model.save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    meta = json.loads(path.read_text())
    del meta["config"]["layers"]
    meta["config"]["n_layers"] = 3
    path.write_text(json.dumps(meta))
    loaded = load_pretrained(tmp_path).eval()
    assert loaded.config == model.config
    torch.testing.assert_close(loaded(ids()).logits, model(ids()).logits)
