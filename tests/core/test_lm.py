"""The language-model shell: the next-token loss and ``generate`` over the init_state / step protocol."""

import pytest
import torch
from torch import nn

from archlab.core.lm import GenerationMixin, next_token_loss
from archlab.core.outputs import LMOutput
from archlab.core.tokens import check_token_ids


class Successor(GenerationMixin, nn.Module):
    """A toy LM whose logits favour ``(previous token + 1) % V``; its state is the last token and the number of
    steps taken, so the test can see that ``generate`` pre-fills once and then steps."""

    def __init__(self, vocab: int = 7, max_len: int = 12) -> None:
        super().__init__()
        self.vocab, self.max_len, self.steps = vocab, max_len, 0

    def check_ids(self, input_ids, *, past=0):
        check_token_ids(input_ids, vocab_size=self.vocab, max_len=self.max_len, past=past)

    def _logits(self, tokens):  # (...,) -> (..., V)
        return 5.0 * nn.functional.one_hot((tokens + 1) % self.vocab, self.vocab).float()

    def forward(self, input_ids, *, state=None):
        if state is not None:
            state["last"] = input_ids[:, -1]
        return LMOutput(logits=self._logits(input_ids))

    def init_state(self, batch, *, max_len=None):
        return {"last": None, "max_len": max_len}

    def step(self, tokens, state):
        self.steps += 1
        state["last"] = tokens
        return self._logits(tokens), state


def test_next_token_loss_is_float32_cross_entropy_ignoring_minus_100():
    logits = torch.randn(2, 5, 11, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    labels = torch.randint(0, 11, (2, 5), generator=torch.Generator().manual_seed(1))
    labels[0, :2] = -100
    loss = next_token_loss(logits, labels)
    expected = nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected)


def test_generate_prefills_once_then_steps_each_new_token():
    model = Successor()
    prompt = torch.tensor([[3, 4], [0, 6]])
    out = model.generate(prompt, 4, temperature=0.0)
    assert out.tolist() == [[3, 4, 5, 6, 0, 1], [0, 6, 0, 1, 2, 3]]
    assert model.steps == 3  # the last sampled token is not fed back
    assert torch.equal(model.generate(prompt, 4, temperature=0.0, use_cache=False), out)
    assert model.steps == 3  # recomputing the prefix never steps


def test_generate_checks_the_prompt_and_new_tokens_fit():
    model = Successor(max_len=6)
    prompt = torch.tensor([[1, 2]])
    assert model.generate(prompt, 4, temperature=0.0).shape == (1, 6)
    with pytest.raises(ValueError, match="sequence of 7 tokens exceeds max_seq_len=6"):
        model.generate(prompt, 5)
    with pytest.raises(ValueError, match="max_new_tokens=-1 must be >= 0"):
        model.generate(prompt, -1)
    with pytest.raises(ValueError, match="temperature=-1 must be a finite number >= 0"):
        model.generate(prompt, 1, temperature=-1)
    steps = model.steps
    for temperature in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match=f"temperature={temperature} must be a finite number"):
            model.generate(prompt, 1, temperature=temperature)
    with pytest.raises(ValueError, match="top_k=2.5 must be an integer >= 1"):
        model.generate(prompt, 1, top_k=2.5)
    with pytest.raises(ValueError, match="length 0"):
        model.generate(prompt[:, :0], 1)
    assert model.steps == steps  # each refused before any decoding
