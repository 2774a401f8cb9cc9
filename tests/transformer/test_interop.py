"""archlab vs Hugging Face transformers: BERT, GPT-2 and Llama on tiny random configs, within 1e-4 (float32).

Weights are re-drawn at a larger scale than the libraries' 0.02 initialisers so that outputs are O(1) and a
wrong mapping (a transposed Conv1D, swapped k/v, a missing bias) shows as a large difference."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

from archlab.interop import from_transformers  # noqa: E402
from archlab.transformer import DecoderLM, DecoderModel, Encoder  # noqa: E402

TOL = 1e-4


def randomise(model, seed=0):
    """Every weight ~ N(0, 0.3^2); norm gains ~ 1 + N(0, 0.1^2); reproducible; tied weights stay tied."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "norm" in name.lower() or "ln_" in name:
                p.copy_(1 + 0.1 * noise if name.endswith("weight") else 0.1 * noise)
            else:
                p.copy_(0.3 * noise)
    return model.eval()


def ids(batch, length, vocab, seed=1):
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def padding(batch, length):
    """Right padding in row 1, left padding in row 2, none in row 0: (B, L) of 0/1."""
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, length - 3 :] = 0
    mask[2, :2] = 0
    return mask


def primary(out):
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def compare(reference, converted, input_ids, attention_mask=None, real_only=False):
    with torch.no_grad():
        ref = primary(reference(input_ids=input_ids, attention_mask=attention_mask))
        ours = primary(converted(input_ids, attention_mask=attention_mask))
    assert ours.shape == ref.shape
    keep = attention_mask.bool() if real_only else torch.ones(ref.shape[:2], dtype=torch.bool)
    diff = (ours - ref)[keep].abs().max().item()
    assert ref[keep].abs().max().item() > 0.1  # not a vacuous comparison of near-zero outputs
    return diff


# ---------------------------------------------------------------- BERT


@pytest.mark.parametrize("heads, vocab, layers, act", [(1, 37, 1, "gelu"), (2, 101, 2, "gelu"), (4, 53, 2, "relu"),
                                                       (8, 31, 3, "gelu_new")])
def test_bert_parity(heads, vocab, layers, act):
    config = transformers.BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=layers,
                                     num_attention_heads=heads, intermediate_size=48, max_position_embeddings=24,
                                     type_vocab_size=3, hidden_act=act)
    reference = randomise(transformers.BertModel(config))
    model = from_transformers(reference)
    assert isinstance(model, Encoder) and not model.training
    x = ids(3, 13, vocab)
    mask = padding(3, 13)
    assert compare(reference, model, x) < TOL
    assert compare(reference, model, x, mask) < TOL  # padded positions too: they attend to the real tokens
    types = ids(3, 13, 3, seed=5)
    with torch.no_grad():
        ref = reference(input_ids=x, attention_mask=mask, token_type_ids=types).last_hidden_state
        ours = model(x, attention_mask=mask, token_type_ids=types).last_hidden_state
    assert (ours - ref).abs().max().item() < TOL


def test_bert_padding_changes_output_and_is_respected():
    config = transformers.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16)
    model = from_transformers(randomise(transformers.BertModel(config)))
    x = ids(1, 8, 40)
    short = model(x[:, :5]).last_hidden_state
    padded = model(x, attention_mask=torch.tensor([[1] * 5 + [0] * 3])).last_hidden_state
    torch.testing.assert_close(padded[:, :5], short, atol=1e-5, rtol=0)
    assert (model(x).last_hidden_state[:, :5] - short).abs().max() > 1e-2


# ---------------------------------------------------------------- GPT-2


@pytest.mark.parametrize("cls", ["GPT2Model", "GPT2LMHeadModel"])
@pytest.mark.parametrize("heads, vocab, layers, act", [(1, 37, 1, "gelu_new"), (4, 101, 2, "gelu_new"),
                                                       (8, 50, 2, "relu")])
def test_gpt2_parity(cls, heads, vocab, layers, act):
    config = transformers.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=layers, n_head=heads, n_positions=20,
                                     activation_function=act)
    reference = randomise(getattr(transformers, cls)(config))
    model = from_transformers(reference)
    assert type(model) is (DecoderLM if cls == "GPT2LMHeadModel" else DecoderModel)
    x = ids(3, 12, vocab)
    assert compare(reference, model, x) < TOL
    assert compare(reference, model, x, padding(3, 12), real_only=True) < TOL


def test_gpt2_tied_and_untied_heads():
    tied = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=33, n_embd=16, n_layer=1, n_head=2,
                                                                n_positions=12))
    model = from_transformers(randomise(tied))
    assert model.config.tie_embeddings and model.lm_head.weight is model.tok_emb.weight
    untied_config = transformers.GPT2Config(vocab_size=33, n_embd=16, n_layer=1, n_head=2, n_positions=12,
                                            tie_word_embeddings=False)
    untied = randomise(transformers.GPT2LMHeadModel(untied_config))
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    model = from_transformers(untied)
    assert not model.config.tie_embeddings
    assert compare(untied, model, ids(2, 9, 33)) < TOL


def test_gpt2_base_output_is_after_final_norm():
    reference = randomise(transformers.GPT2Model(transformers.GPT2Config(vocab_size=30, n_embd=16, n_layer=1,
                                                                         n_head=2, n_positions=8)))
    model = from_transformers(reference)
    x = ids(1, 6, 30)
    hidden = model(x).last_hidden_state
    centred = hidden - reference.ln_f.bias  # LayerNorm output minus its bias has mean ~ 0 after dividing the gain
    assert (centred / reference.ln_f.weight).mean(-1).abs().max() < 1e-4


# ---------------------------------------------------------------- Llama


@pytest.mark.parametrize("cls", ["LlamaModel", "LlamaForCausalLM"])
@pytest.mark.parametrize("heads, kv_heads, vocab, tie", [(4, 4, 37, False), (4, 2, 101, False), (8, 1, 53, True),
                                                          (8, 2, 61, True)])
def test_llama_parity(cls, heads, kv_heads, vocab, tie):
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                                      num_attention_heads=heads, num_key_value_heads=kv_heads, intermediate_size=40,
                                      max_position_embeddings=32, tie_word_embeddings=tie)
    reference = randomise(getattr(transformers, cls)(config))
    model = from_transformers(reference)
    assert model.config.kv_heads == kv_heads
    x = ids(3, 14, vocab)
    assert compare(reference, model, x) < TOL
    assert compare(reference, model, x, padding(3, 14), real_only=True) < TOL
    if cls == "LlamaForCausalLM":
        assert model.config.tie_embeddings == tie
        assert (model.lm_head.weight is model.tok_emb.weight) == tie


@pytest.mark.parametrize("rope", [
    {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0},
    {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 16},
])
def test_llama_rope_scaling_parity(rope):
    config = transformers.LlamaConfig(vocab_size=41, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      num_key_value_heads=1, intermediate_size=40, max_position_embeddings=64,
                                      rope_parameters=rope, attention_bias=True, mlp_bias=True)
    reference = randomise(transformers.LlamaForCausalLM(config))
    model = from_transformers(reference)
    assert model.config.rope_scaling == rope["rope_type"] and model.config.bias
    assert compare(reference, model, ids(2, 40, 41)) < TOL


def test_llama_unsupported_settings_raise():
    base = dict(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24)
    with pytest.raises(ValueError, match="rope_type='yarn' is not supported"):
        from_transformers(transformers.LlamaModel(transformers.LlamaConfig(
            **base, rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0})))
    with pytest.raises(ValueError, match="attention_bias=True with mlp_bias=False"):
        from_transformers(transformers.LlamaModel(transformers.LlamaConfig(**base, attention_bias=True)))
    with pytest.raises(ValueError, match="head_dim=4"):
        from_transformers(transformers.LlamaModel(transformers.LlamaConfig(**base, head_dim=4)))


def test_unsupported_class_lists_supported_ones():
    reference = transformers.BertForMaskedLM(transformers.BertConfig(vocab_size=20, hidden_size=16,
                                                                     num_hidden_layers=1, num_attention_heads=2,
                                                                     intermediate_size=24))
    with pytest.raises(ValueError, match="BertForMaskedLM is not supported; supported classes: .*BertModel.*"
                                         "GPT2LMHeadModel.*GPT2Model.*LlamaForCausalLM.*LlamaModel"):
        from_transformers(reference)


def test_mapping_rejects_unmapped_weights():
    from archlab.transformer.interop import GPT2_KEYS, map_state_dict

    state = {"wte.weight": torch.zeros(2, 2), "h.0.attn.extra.weight": torch.zeros(2)}
    with pytest.raises(ValueError, match=r"no archlab counterpart: \['h.0.attn.extra.weight'\]"):
        map_state_dict(state, n_layers=1, keys=GPT2_KEYS)
