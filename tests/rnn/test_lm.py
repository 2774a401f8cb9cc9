"""RNNLM: config rules, pinned parameter count, step vs forward, state carried across chunks, generation,
save/load round trip."""

import math

import pytest
import torch

from archlab.core.io import load_pretrained
from archlab.core.outputs import LMOutput
from archlab.rnn.lm import RNNLM, RNNLMConfig, gru_config, lstm_config

TINY = dict(vocab_size=32, d_model=8, hidden_size=12, n_layers=2)


def build(cell="lstm", seed=0, **overrides):
    torch.manual_seed(seed)
    return RNNLM(RNNLMConfig(**{**TINY, "cell": cell, **overrides})).eval()


def ids(b=2, length=9, seed=1):
    return torch.randint(0, 32, (b, length), generator=torch.Generator().manual_seed(seed))


def test_parameter_counts_are_pinned():
    # embedding 32*8; layer 1: 4*12*(8+12) + 2*4*12; layer 2: 4*12*(12+12) + 2*4*12; head 12*32 + 32
    assert build("lstm").num_parameters() == 256 + 1056 + 1248 + 416
    assert build("gru").num_parameters() == 256 + 792 + 936 + 416
    tied = build("lstm", d_model=12, tie_embeddings=True)
    assert tied.lm_head.weight is tied.embedding.weight


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_loss_and_step_agree(cell):
    model = build(cell)
    x = ids()
    with torch.no_grad():
        out = model(x, labels=x)
    assert isinstance(out, LMOutput) and out.logits.shape == (2, 9, 32)
    ref = torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), x.flatten())
    assert float(out.loss) == pytest.approx(float(ref), rel=1e-5)
    assert float(out.loss) == pytest.approx(math.log(32), abs=0.2)
    state = model.init_state(2)
    steps = [model.step(x[:, t], state)[0] for t in range(x.shape[1])]
    torch.testing.assert_close(torch.stack(steps, dim=1), out.logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_carries_across_chunks(cell):
    model = build(cell)
    x = ids(length=12)
    whole = model(x).logits
    state = model.init_state(2)
    parts = [model(x[:, a:a + 4], state=state).logits for a in (0, 4, 8)]
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=0, atol=1e-5)
    assert (state.c is None) == (cell == "gru")
    assert state.h.shape == (2, 2, 12)


def test_generate_is_seeded_and_greedy_follows_argmax():
    model = build("gru")
    prompt = ids(b=1, length=3)
    a = model.generate(prompt, 6, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 6, generator=torch.Generator().manual_seed(0))
    assert a.shape == (1, 9) and torch.equal(a, b) and torch.equal(a[:, :3], prompt)
    greedy = model.generate(prompt, 4, temperature=0.0)
    for t in range(3, 7):
        assert int(model(greedy[:, :t]).logits[0, -1].argmax()) == int(greedy[0, t])
    assert torch.equal(model.generate(prompt, 0), prompt)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_save_load_round_trip(cell, tmp_path):
    model = build(cell, recurrent_init="orthogonal", forget_bias=None, chrono_t_max=16.0)
    model.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert isinstance(loaded, RNNLM) and loaded.config == model.config
    loaded.eval()
    x = ids()
    assert torch.equal(loaded(x).logits, model(x).logits)


def test_presets_and_bad_configs():
    assert lstm_config().cell == "lstm" and gru_config(n_layers=1).cell == "gru"
    with pytest.raises(ValueError, match="cell='rnn'"):
        RNNLMConfig(cell="rnn")
    with pytest.raises(ValueError, match="hidden_size=0"):
        RNNLMConfig(hidden_size=0)
    with pytest.raises(ValueError, match="tie_embeddings"):
        RNNLMConfig(d_model=8, hidden_size=12, tie_embeddings=True)
    with pytest.raises(ValueError, match="chrono_t_max"):
        RNNLMConfig(chrono_t_max=10.0)  # forget_bias defaults to 1.0
    model = build()
    with pytest.raises(ValueError, match="token ids"):
        model(torch.full((1, 3), 40))
    with pytest.raises(ValueError, match="one token per sequence"):
        model.step(ids(), model.init_state(2))
