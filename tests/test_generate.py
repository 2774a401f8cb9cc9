"""Every language model decodes through ``core.lm``: greedy ``generate`` with the KV cache or recurrent state
equals recomputing the whole prefix at each token, and step-by-step logits equal the full forward's."""

import pytest
import torch

from archlab.core.lm import GenerationMixin
from archlab.moe.lm import MoELM, MoELMConfig
from archlab.rnn.lm import RNNLM, RNNLMConfig
from archlab.ssm.linear_attention import LinearAttentionLM, LinearAttentionLMConfig
from archlab.ssm.lm import MambaLM, MambaLMConfig, interleaved_layers
from archlab.transformer.lm import DecoderLM, gpt2_config, llama_config

VOCAB = 40

BUILDERS = {
    "gpt2": lambda: DecoderLM(gpt2_config(vocab_size=VOCAB, max_seq_len=24, d_model=32, n_layers=2, n_heads=4)),
    "llama": lambda: DecoderLM(llama_config(vocab_size=VOCAB, max_seq_len=24, d_model=32, n_layers=2, n_heads=4)),
    "moe": lambda: MoELM(MoELMConfig(vocab_size=VOCAB, max_seq_len=24, d_model=32, n_layers=2, n_heads=4,
                                     n_kv_heads=2, d_ff=64, n_experts=4, top_k=2)),
    "mamba": lambda: MambaLM(MambaLMConfig(vocab_size=VOCAB, d_model=16, layers=("mamba",) * 2, d_state=4)),
    "hybrid": lambda: MambaLM(MambaLMConfig(
        vocab_size=VOCAB, d_model=16, layers=interleaved_layers(3, attention_every=3, attention_offset=1),
        d_state=4, n_heads=2, mlp="swiglu", position="rope", attn_conv=3, max_seq_len=24)),
    "linear-attention": lambda: LinearAttentionLM(LinearAttentionLMConfig(vocab_size=VOCAB, d_model=16,
                                                                          feature_dim=4, n_heads=2)),
    "lstm": lambda: RNNLM(RNNLMConfig(vocab_size=VOCAB, cell="lstm", d_model=16, hidden_size=24)),
    "gru": lambda: RNNLM(RNNLMConfig(vocab_size=VOCAB, cell="gru", d_model=16, hidden_size=24)),
}


def build(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return BUILDERS[arch]().eval()


def ids(length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (3, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", BUILDERS)
def test_greedy_generate_with_state_equals_recomputing_the_prefix(arch):
    model = build(arch)
    assert isinstance(model, GenerationMixin)
    prompt = ids(5)
    cached = model.generate(prompt, 12, temperature=0.0)
    recomputed = model.generate(prompt, 12, temperature=0.0, use_cache=False)
    assert cached.shape == (3, 17) and torch.equal(cached[:, :5], prompt)
    assert torch.equal(cached, recomputed)
    with torch.no_grad():
        logits = model(cached).logits  # (B, 17, V): each new token is the argmax after its prefix
    assert torch.equal(cached[:, 5:], logits[:, 4:-1].argmax(-1))


@pytest.mark.parametrize("arch", BUILDERS)
def test_step_logits_equal_the_full_forward(arch):
    model = build(arch)
    x = ids(10, seed=2)
    with torch.no_grad():
        full = model(x).logits  # (B, L, V)
        state = model.init_state(3)
        steps = torch.stack([model.step(x[:, t], state)[0] for t in range(10)], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", BUILDERS)
def test_sampling_is_seeded_and_filters_apply(arch):
    model = build(arch)
    prompt = ids(4)

    def sample(seed, **kwargs):
        return model.generate(prompt, 6, temperature=1.3, generator=torch.Generator().manual_seed(seed), **kwargs)

    assert torch.equal(sample(0, top_k=5, top_p=0.9), sample(0, top_k=5, top_p=0.9))
    assert torch.equal(sample(4, top_k=1), model.generate(prompt, 6, temperature=0.0))  # top_k=1 is greedy
    assert torch.equal(model.generate(prompt, 0), prompt)
    with pytest.raises(ValueError, match="max_new_tokens=-1 must be >= 0"):
        model.generate(prompt, -1)
    with pytest.raises(ValueError, match="top_p=0.0 must be in"):
        model.generate(prompt, 2, top_p=0.0)


@pytest.mark.parametrize("arch", BUILDERS)
def test_labels_out_of_range_are_refused_like_input_ids(arch):
    model = build(arch)
    x = ids(6, seed=3)
    for bad in (VOCAB, -5):
        labels = x.clone()
        labels[1, 2] = bad
        with pytest.raises(ValueError, match=rf"labels must be token ids in \[0, {VOCAB}\) or -100"):
            model(x, labels=labels)
    labels = x.clone()
    labels[:, :2] = -100  # ignored positions stay allowed
    assert torch.isfinite(model(x, labels=labels).loss)


@pytest.mark.parametrize("arch", BUILDERS)
def test_an_empty_sequence_gives_empty_logits_except_to_a_recurrent_cell(arch):
    model = build(arch)
    with torch.no_grad():
        if arch in ("lstm", "gru"):  # a recurrent layer refuses length 0 by design (rnn.layers)
            with pytest.raises(ValueError, match="length 0"):
                model(ids(0))
        else:
            assert model(ids(0)).logits.shape == (3, 0, VOCAB)
