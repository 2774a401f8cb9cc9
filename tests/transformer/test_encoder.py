"""Encoder: config rules, pooling, padding, pre/post-norm, positions, save/load round-trips of every model."""

import pytest
import torch

from archlab.transformer import DecoderLM, DecoderModel, Encoder, EncoderConfig, bert_config, gpt2_config, llama_config, pool

TINY = dict(vocab_size=40, max_seq_len=16, d_model=16, n_layers=2, n_heads=4)


def build(seed=0, **overrides):
    torch.manual_seed(seed)
    return Encoder(EncoderConfig(**{**TINY, **overrides})).eval()


def ids(b=2, length=10, vocab=40, seed=1):
    return torch.randint(0, vocab, (b, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("overrides, message", [
    (dict(vocab_size=0), "vocab_size=0 must be >= 1"),
    (dict(d_model=18, n_heads=4), "d_model=18 must be divisible by n_heads=4"),
    (dict(type_vocab_size=-1), "type_vocab_size=-1 must be >= 0"),
    (dict(position="alibi"), "position='alibi' is not one of learned, rope, none"),
    (dict(norm_position="sandwich"), "norm_position='sandwich' is not one of post, pre"),
    (dict(activation="swish"), "activation='swish' is not one of gelu, gelu_tanh, relu"),
    (dict(position="rope", d_model=12, n_heads=4), "head_dim=3"),
    (dict(dropout=1.0), r"dropout=1.0 must be in \[0, 1\)"),
    (dict(norm_eps=0.0), "norm_eps=0.0 must be > 0"),
])
def test_config_rules(overrides, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig(**{**TINY, **overrides})


def test_bert_base_parameter_count_pinned():
    """BERT-base without its pooler: 108,891,648 parameters; with the pooler (D^2 + D) it is Hugging Face's
    109,482,240 for bert-base-uncased."""
    V, T, D, F_ = 30522, 512, 768, 3072
    per_layer = 4 * (D * D + D) + 2 * 2 * D + (D * F_ + F_) + (F_ * D + D)  # q, k, v, o; two LayerNorms; MLP
    embeddings = V * D + T * D + 2 * D + 2 * D  # tokens, positions, two token types, LayerNorm
    assert Encoder(bert_config(n_layers=1)).num_parameters() == embeddings + per_layer
    assert embeddings + 12 * per_layer == 108_891_648
    assert embeddings + 12 * per_layer + D * D + D == 109_482_240


def test_forward_shapes_and_post_norm_output():
    model = build()
    out = model(ids()).last_hidden_state
    assert out.shape == (2, 10, 16)
    # post-norm: every output vector is a LayerNorm output with unit gain and zero bias at init
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 10), atol=1e-5, rtol=0)
    pre = build(norm_position="pre")
    assert pre.norm_f is not None and pre.blocks[0].norm_position == "pre" and model.norm_f is None


def test_padding_is_invisible_to_real_tokens():
    model = build()
    x = ids(1, 10)
    mask = torch.tensor([[1] * 6 + [0] * 4])
    padded = model(x, attention_mask=mask).last_hidden_state[:, :6]
    torch.testing.assert_close(padded, model(x[:, :6]).last_hidden_state, atol=1e-5, rtol=0)
    other = x.clone()
    other[:, 6:] = (other[:, 6:] + 1) % 40
    torch.testing.assert_close(model(other, attention_mask=mask).last_hidden_state[:, :6], padded)


def test_token_types_change_the_output():
    model = build()
    x = ids()
    types = torch.zeros_like(x)
    torch.testing.assert_close(model(x, token_type_ids=types).last_hidden_state, model(x).last_hidden_state)
    types[:, 5:] = 1
    assert (model(x, token_type_ids=types).last_hidden_state - model(x).last_hidden_state).abs().max() > 1e-3


def test_pooling():
    hidden = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    torch.testing.assert_close(pool(hidden, None, "cls"), hidden[:, 0])
    torch.testing.assert_close(pool(hidden, mask, "mean"), torch.stack([hidden[0, :2].mean(0), hidden[1].mean(0)]))
    torch.testing.assert_close(pool(hidden, None, "mean"), hidden.mean(1))
    with pytest.raises(ValueError, match="pooling='max' is not one of 'cls', 'mean'"):
        pool(hidden, mask, "max")
    model = build()
    x = ids()
    torch.testing.assert_close(model.pooled(x, pooling="cls"), model(x).last_hidden_state[:, 0])


@pytest.mark.parametrize("position", ["none", "rope", "learned"])
def test_permutation_equivariance_only_without_positions(position):
    from archlab.transformer.attention_claims import permutation_gap

    model = build(position=position, init_std=0.5)
    gap = permutation_gap(model, ids(), torch.Generator().manual_seed(0))
    assert (gap < 1e-5) if position == "none" else (gap > 1e-2)


def test_input_errors():
    model = build()
    with pytest.raises(ValueError, match="sequence of 17 tokens exceeds max_seq_len=16"):
        model(ids(length=17))
    with pytest.raises(ValueError, match=r"attention_mask shape \(2, 9\) must equal input_ids shape \(2, 10\)"):
        model(ids(), attention_mask=torch.ones(2, 9))
    with pytest.raises(ValueError, match=r"token_type_ids must be in \[0, 2\)"):
        model(ids(), token_type_ids=torch.full((2, 10), 2))
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 40\)"):
        model(torch.tensor([[40]]))


@pytest.mark.parametrize("make", [
    lambda: Encoder(EncoderConfig(**TINY)),
    lambda: Encoder(EncoderConfig(**TINY, position="rope", norm_position="pre", type_vocab_size=0)),
    lambda: DecoderModel(gpt2_config(vocab_size=40, max_seq_len=16, d_model=16, n_layers=2, n_heads=4)),
    lambda: DecoderLM(llama_config(vocab_size=41, max_seq_len=16, d_model=16, n_layers=2, n_heads=4,
                                   rope_scaling="llama3", rope_factor=8.0, rope_original_max_len=8)),
    lambda: DecoderLM(llama_config(vocab_size=41, max_seq_len=16, d_model=16, n_layers=1, n_heads=4, mlp="none",
                                   tie_embeddings=True)),
])
def test_save_pretrained_round_trip_is_exact(make, tmp_path):
    torch.manual_seed(0)
    model = make().eval()
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path).eval()
    assert loaded.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    x = ids(vocab=40)
    out = model(x)
    again = loaded(x)
    key = "logits" if hasattr(out, "logits") else "last_hidden_state"
    assert torch.equal(getattr(out, key), getattr(again, key))
