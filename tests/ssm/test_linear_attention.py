"""Linear attention (Katharopoulos et al. 2020) with Based's Taylor feature map: the feature identity, the
recurrence equal to the parallel form, causality, a state that does not grow, config rules."""

import math

import pytest
import torch

from archlab.core.io import load_pretrained
from archlab.ssm import linear_attention
from archlab.ssm.linear_attention import (LinearAttention, LinearAttentionLM, LinearAttentionLMConfig,
                                          taylor_features)


def lm(seed=0, **kw) -> LinearAttentionLM:
    torch.manual_seed(seed)
    return LinearAttentionLM(LinearAttentionLMConfig(**{**dict(vocab_size=32, d_model=16, feature_dim=4,
                                                               n_heads=2), **kw})).eval()


def ids(b=2, length=12, seed=1):
    return torch.randint(0, 32, (b, length), generator=torch.Generator().manual_seed(seed))


def test_taylor_features_give_the_second_order_expansion_of_exp():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(5, 6, generator=g, dtype=torch.float64), torch.randn(5, 6, generator=g, dtype=torch.float64)
    dot = (q * k).sum(-1)
    expected = 1 + dot / math.sqrt(6) + dot**2 / (2 * 6)
    assert taylor_features(q).shape == (5, 1 + 6 + 36)
    torch.testing.assert_close((taylor_features(q) * taylor_features(k)).sum(-1), expected)


def test_parallel_form_equals_the_softmax_free_attention_definition():
    """y_t = sum_{s<=t} phi(q_t).phi(k_s) v_s / sum_{s<=t} phi(q_t).phi(k_s), written out with loops."""
    torch.manual_seed(0)
    layer = LinearAttention(d_model=8, feature_dim=3, n_heads=2).double()
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    q = taylor_features(layer.q_proj(x).view(2, 7, 2, 3))  # (B, L, H, F)
    k = taylor_features(layer.k_proj(x).view(2, 7, 2, 3))
    v = layer.v_proj(x).view(2, 7, 2, 4)  # (B, L, H, d_v)
    y = torch.zeros(2, 7, 2, 4, dtype=torch.float64)
    for t in range(7):
        w = (q[:, t, None] * k[:, : t + 1]).sum(-1)  # (B, t + 1, H)
        y[:, t] = (w[..., None] * v[:, : t + 1]).sum(1) / (w.sum(1)[..., None] + layer.eps)
    torch.testing.assert_close(layer(x), layer.o_proj(y.reshape(2, 7, 8)))


def test_decoding_step_by_step_and_in_chunks_equals_the_full_forward():
    model = lm()
    x = ids(2, 12)
    with torch.no_grad():
        full = model(x).logits
        state = model.init_state(2)
        stepped = torch.stack([model.step(x[:, t], state)[0] for t in range(12)], dim=1)
        state = model.init_state(2)
        chunked = torch.cat([model(x[:, :5], state=state).logits, model(x[:, 5:], state=state).logits], dim=1)
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=1e-5)


def test_state_size_does_not_grow_with_the_sequence_and_grows_with_feature_dim():
    model = lm()
    sizes = []
    with torch.no_grad():
        for length in (1, 50):
            state = model.init_state(1)
            model(ids(1, length), state=state)
            sizes.append(sum(layer.conv.numel() + layer.cache.kv.numel() + layer.cache.k_sum.numel()
                             for layer in state.layers))
    assert sizes[0] == sizes[1] == model.config.n_layers * model.config.state_size
    assert lm(feature_dim=1).config.state_size < lm(feature_dim=4).config.state_size < lm(feature_dim=16).config.state_size


def test_causal_a_later_token_does_not_change_earlier_logits():
    model = lm()
    x = ids(1, 12)
    x2 = x.clone()
    x2[0, 7] = (x2[0, 7] + 1) % 32
    with torch.no_grad():
        a, b = model(x).logits, model(x2).logits
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_training_on_labelled_positions_lowers_the_loss():
    model = lm().train()
    x = ids(4, 16)
    labels = torch.full_like(x, -100)
    labels[:, 8:] = x[:, :8]  # copy the first half
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = model(x, labels=labels).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


@pytest.mark.parametrize("overrides, message", [
    (dict(feature_dim=0), "feature_dim=0 must be >= 1"),
    (dict(d_model=10, n_heads=4), "d_model=10 must be divisible by n_heads=4"),
    (dict(conv_kernel=0), "conv_kernel=0 must be >= 1"),
    (dict(init_std=0.0), "init_std=0.0 must be > 0"),
])
def test_config_rules(overrides, message):
    with pytest.raises(ValueError, match=message):
        LinearAttentionLMConfig(**overrides)


def test_bad_token_ids_and_step_shape_are_refused():
    model = lm()
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 32\)"):
        model(torch.tensor([[0, 32]]))
    with pytest.raises(ValueError, match="one token per sequence"):
        model.step(ids(2, 3), model.init_state(2))


def test_save_and_load_round_trip(tmp_path):
    model = lm(feature_dim=2)
    model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert type(loaded) is LinearAttentionLM and loaded.config == model.config
    torch.testing.assert_close(loaded.eval()(ids()).logits, model(ids()).logits)


def test_long_inputs_run_chunkwise_with_the_quadratic_forms_outputs_state_and_gradients(monkeypatch):
    torch.manual_seed(0)
    layer = LinearAttention(d_model=8, feature_dim=3, n_heads=2).double()
    x = torch.randn(2, 29, 8, dtype=torch.float64, requires_grad=True)  # 29 positions: chunks of 8, 8, 8, 5
    carried = layer.init_state(2, dtype=torch.float64)
    carried.kv, carried.k_sum = torch.randn_like(carried.kv), torch.rand_like(carried.k_sum)  # a state carried in
    results = []
    for chunk in (64, 8):  # one quadratic block, then four chunks through the state
        monkeypatch.setattr(linear_attention, "CHUNK", chunk)
        state = linear_attention.LinearAttentionState(kv=carried.kv.clone(), k_sum=carried.k_sum.clone())
        out = layer(x, cache=state)
        grad = torch.autograd.grad(out.square().sum(), x)[0]
        results.append((out, state.kv, state.k_sum, grad, layer(x)))  # with a state, and without
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)
