"""DecoderModel / DecoderLM ``inputs_embeds``: ids and their embeddings give equal outputs (the path LLaVA-style
fusion uses to prefix projected image tokens), with and without padding and a KV cache."""

import pytest
import torch

from archlab.transformer.lm import DecoderLM, DecoderModel, gpt2_config, llama_config

TINY = dict(vocab_size=32, max_seq_len=16, d_model=16, n_layers=2, n_heads=4)


def ids(b=2, length=10, seed=1):
    return torch.randint(0, 32, (b, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("preset", [gpt2_config, llama_config])
def test_ids_and_their_embeddings_give_equal_outputs(preset):
    torch.manual_seed(0)
    lm = DecoderLM(preset(**TINY)).eval()
    x = ids()
    mask = torch.ones_like(x)
    mask[1, 7:] = 0
    by_ids = lm(x, attention_mask=mask).logits
    by_embeds = lm(inputs_embeds=lm.tok_emb(x), attention_mask=mask).logits
    assert torch.equal(by_ids, by_embeds)
    base = DecoderModel(preset(**TINY)).eval()
    assert torch.equal(base(x).last_hidden_state, base(inputs_embeds=base.tok_emb(x)).last_hidden_state)


def test_embeddings_continue_a_cached_sequence():
    torch.manual_seed(0)
    lm = DecoderLM(gpt2_config(**TINY)).eval()
    x = ids()
    full = lm(x).logits
    state = lm.init_state(2)
    head = lm(inputs_embeds=lm.tok_emb(x[:, :6]), state=state).logits
    tail = lm(x[:, 6:], state=state).logits
    assert torch.allclose(torch.cat([head, tail], dim=1), full, atol=1e-5)


def test_embeddings_differ_from_ids_when_changed():
    torch.manual_seed(0)
    lm = DecoderLM(gpt2_config(**TINY)).eval()
    x = ids()
    embeds = lm.tok_emb(x)
    embeds[:, 0] += 1.0
    assert not torch.allclose(lm(inputs_embeds=embeds).logits[:, -1], lm(x).logits[:, -1])


def test_inputs_embeds_errors():
    lm = DecoderLM(gpt2_config(**TINY)).eval()
    x = ids()
    with pytest.raises(ValueError, match="exactly one of input_ids"):
        lm(x, inputs_embeds=lm.tok_emb(x))
    with pytest.raises(ValueError, match="exactly one of input_ids"):
        lm()
    with pytest.raises(ValueError, match=r"inputs_embeds must be \(batch, length, 16\)"):
        lm(inputs_embeds=torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match="max_seq_len=16"):
        lm(inputs_embeds=torch.zeros(1, 17, 16))
