"""Hugging Face reward heads convert to archlab RewardModels whose reward equals the reference's logit."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from archlab.interop import from_transformers  # noqa: E402
from archlab.reward.model import RewardModel  # noqa: E402


def llama(num_labels=1, pad_token_id=0, **overrides):
    values = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, num_labels=num_labels,
                  pad_token_id=pad_token_id)
    return transformers.LlamaForSequenceClassification(transformers.LlamaConfig(**{**values, **overrides}))


def gpt2(num_labels=1, pad_token_id=0, **overrides):
    values = dict(vocab_size=97, n_embd=32, n_layer=2, n_head=4, n_positions=64, num_labels=num_labels,
                  pad_token_id=pad_token_id, bos_token_id=1, eos_token_id=1)
    return transformers.GPT2ForSequenceClassification(transformers.GPT2Config(**{**values, **overrides}))


CONFIGS = {
    "llama-gqa": lambda: llama(),
    "llama-mha-3-layers": lambda: llama(num_hidden_layers=3, num_key_value_heads=4, hidden_size=48),
    "llama-pad-5": lambda: llama(pad_token_id=5),
    "gpt2": lambda: gpt2(),
    "gpt2-1-layer-wide": lambda: gpt2(n_layer=1, n_embd=64, pad_token_id=3),
}


def batches(pad: int):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 97, (4, 12), generator=g)
    ids[ids == pad] = pad + 1  # no pad id among the real tokens
    unpadded = (ids, torch.ones_like(ids))
    padded_ids, mask = ids.clone(), torch.ones_like(ids)
    for row, length in enumerate([12, 7, 3, 1]):
        padded_ids[row, length:] = pad
        mask[row, length:] = 0
    return {"unpadded": unpadded, "right-padded": (padded_ids, mask)}


@pytest.mark.parametrize("name", CONFIGS)
def test_reward_equals_the_reference_logit(name):
    torch.manual_seed(0)
    reference = CONFIGS[name]().eval()
    model = from_transformers(reference)
    assert isinstance(model, RewardModel)
    for kind, (ids, mask) in batches(reference.config.pad_token_id).items():
        with torch.no_grad():
            expected = reference(input_ids=ids, attention_mask=mask).logits.squeeze(-1)  # (B, 1) -> (B,)
            got = model(ids, mask)
        assert got.shape == (4,)
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=0, msg=f"{name} {kind}")


def test_padding_changes_the_token_read():
    torch.manual_seed(0)
    model = from_transformers(llama().eval())
    padded_ids, mask = batches(0)["right-padded"]
    with torch.no_grad():
        rewards = model(padded_ids, mask)
        alone = model(padded_ids[1:2, :7], mask[1:2, :7])  # the second row without its padding
    torch.testing.assert_close(rewards[1:2], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("make", [llama, gpt2])
def test_other_num_labels_and_a_missing_pad_token_are_refused_by_name(make):
    with pytest.raises(ValueError, match="num_labels=2"):
        from_transformers(make(num_labels=2))
    with pytest.raises(ValueError, match="pad_token_id=None"):
        from_transformers(make(pad_token_id=None))
