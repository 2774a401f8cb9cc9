"""Next-token selection: greedy, temperature, top-k and top-p."""

import pytest
import torch

from archlab.core.sampling import filter_logits, sample_next_token


def kept(filtered: torch.Tensor) -> list[set[int]]:
    return [set(torch.nonzero(torch.isfinite(row)).flatten().tolist()) for row in filtered]


def test_top_k_keeps_exactly_k():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5], [5.0, 4.0, 3.0, 2.0, 1.0]])
    assert kept(filter_logits(logits, top_k=2)) == [{1, 3}, {0, 1}]
    assert kept(filter_logits(logits, top_k=1)) == [{1}, {0}]
    assert kept(filter_logits(logits, top_k=10)) == [set(range(5))] * 2  # k past V keeps everything
    out = filter_logits(logits, top_k=3)
    mask = torch.isfinite(out)
    assert torch.equal(out[mask], logits[mask])  # survivors unchanged


def test_top_k_keeps_ties():
    logits = torch.tensor([[1.0, 2.0, 2.0, 0.0]])
    assert kept(filter_logits(logits, top_k=1)) == [{1, 2}]


def test_top_p_keeps_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15]])
    logits = probs.log()
    assert kept(filter_logits(logits, top_p=0.49)) == [{0}]  # 0.5 alone reaches 0.49
    assert kept(filter_logits(logits, top_p=0.6)) == [{0, 2}]  # 0.5 < 0.6 <= 0.8
    assert kept(filter_logits(logits, top_p=0.79)) == [{0, 2}]
    assert kept(filter_logits(logits, top_p=0.81)) == [{0, 2, 3}]  # 0.8 < 0.81 <= 0.95
    assert kept(filter_logits(logits, top_p=0.96)) == [{0, 1, 2, 3}]


def test_top_p_always_keeps_the_argmax():
    logits = torch.tensor([[0.0, 0.0, 0.1, 0.0], [10.0, 0.0, 0.0, 0.0]])
    assert kept(filter_logits(logits, top_p=1e-6)) == [{2}, {0}]


def test_top_p_one_keeps_every_token():
    logits = torch.randn(4, 5000, generator=torch.Generator().manual_seed(0)) * 4
    assert torch.equal(filter_logits(logits, top_p=1.0), logits)


def test_top_k_then_top_p():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    # top_k=3 renormalises to 0.526, 0.316, 0.158; top_p=0.8 then keeps two
    assert kept(filter_logits(logits, top_k=3, top_p=0.8)) == [{0, 1}]


def test_temperature_zero_is_greedy():
    logits = torch.randn(6, 11, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample_next_token(logits, temperature=0), logits.argmax(-1))


def test_sample_shapes_and_seeding():
    logits = torch.randn(3, 7, generator=torch.Generator().manual_seed(0))
    a = sample_next_token(logits, generator=torch.Generator().manual_seed(5))
    assert a.shape == (3,) and a.dtype == torch.long
    assert torch.equal(a, sample_next_token(logits, generator=torch.Generator().manual_seed(5)))


def test_sampling_with_top_k_never_leaves_the_top_k():
    logits = torch.tensor([[1.0, 0.9, 0.8, 0.7, 0.6, 0.5]]).expand(2000, -1)
    tokens = sample_next_token(logits, top_k=2, temperature=2.0, generator=torch.Generator().manual_seed(0))
    assert set(tokens.tolist()) == {0, 1}  # both survivors occur, nothing else does


def test_sampling_with_top_p_never_leaves_the_nucleus():
    logits = torch.tensor([[0.4, 0.3, 0.2, 0.1]]).log().expand(2000, -1)
    tokens = sample_next_token(logits, top_p=0.65, generator=torch.Generator().manual_seed(0))
    assert set(tokens.tolist()) == {0, 1}


def test_sampling_frequencies_follow_the_distribution():
    probs = torch.tensor([0.6, 0.3, 0.1])
    tokens = sample_next_token(probs.log().expand(20000, -1), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(tokens, minlength=3).float() / 20000
    assert (freq - probs).abs().max() < 0.02  # about 6 standard errors
    # temperature 0.5 squares the odds: p^2 / sum p^2
    sharp = sample_next_token(probs.log().expand(20000, -1), temperature=0.5,
                              generator=torch.Generator().manual_seed(1))
    target = probs**2 / (probs**2).sum()
    assert (torch.bincount(sharp, minlength=3).float() / 20000 - target).abs().max() < 0.02


def test_invalid_arguments():
    logits = torch.zeros(1, 4)
    for kwargs, message in [
        (dict(top_k=0), "top_k=0 must be an integer >= 1"),
        (dict(top_p=0.0), r"top_p=0.0 must be in \(0, 1\]"),
        (dict(top_p=1.5), r"top_p=1.5 must be in \(0, 1\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            filter_logits(logits, **kwargs)
        with pytest.raises(ValueError, match=message):
            sample_next_token(logits, **kwargs)
        with pytest.raises(ValueError, match=message):
            sample_next_token(logits, temperature=0, **kwargs)  # checked even when greedy
    with pytest.raises(ValueError, match="temperature=-0.5 must be a finite number >= 0"):
        sample_next_token(logits, temperature=-0.5)
