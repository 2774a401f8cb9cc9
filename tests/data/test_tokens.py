"""TokenDataset batches (pure in (seed, split, step), shifted targets), evaluation windows, unigram entropy."""

import math

import pytest
import torch

from archlab.data import TokenDataset, unigram_entropy_bits


def counting_dataset(n_train: int = 10_000, n_val: int = 500) -> TokenDataset:
    """Token i is i, so a window is recognisable from its first token and must count up by one."""
    return TokenDataset(torch.arange(n_train), torch.arange(n_val), vocab_size=n_train)


def test_batch_is_long_shifted_and_contiguous():
    x, y = counting_dataset().get_batch("train", 3, batch_size=16, context=32, seed=0)
    assert x.shape == y.shape == (16, 32)
    assert x.dtype == y.dtype == torch.long
    assert torch.equal(y, x + 1)  # targets are the next tokens
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # each row is one contiguous window
    assert int(y.max()) <= 9_999 and int(x.min()) >= 0


def test_byte_tokens_are_returned_as_long():
    data = torch.arange(256, dtype=torch.uint8).repeat(4)
    x, y = TokenDataset(data, data, 256).get_batch("val", 0, batch_size=2, context=300, seed=0)
    assert x.dtype == torch.long and int(x.max()) == 255  # a window of 300 bytes holds the byte 255


def test_batch_is_a_pure_function_of_seed_split_step():
    a, b = counting_dataset(), counting_dataset()
    for step in range(5):  # advance `a` through other batches first: no hidden state may leak
        a.get_batch("train", step, batch_size=8, context=16, seed=7)
    first = a.get_batch("train", 11, batch_size=8, context=16, seed=7)
    again = b.get_batch("train", 11, batch_size=8, context=16, seed=7)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


def test_batch_changes_with_step_seed_and_split():
    ds = counting_dataset(n_val=10_000)
    base = ds.get_batch("train", 0, batch_size=8, context=16, seed=0)[0]
    assert not torch.equal(base, ds.get_batch("train", 1, batch_size=8, context=16, seed=0)[0])
    assert not torch.equal(base, ds.get_batch("train", 0, batch_size=8, context=16, seed=1)[0])
    assert not torch.equal(base, ds.get_batch("val", 0, batch_size=8, context=16, seed=0)[0])


def test_batch_numbers_are_pinned():
    """Resume across versions needs the same batches: a change here changes every training run's data order."""
    ds = counting_dataset()
    assert ds.get_batch("train", 0, batch_size=4, context=8, seed=0)[0][:, 0].tolist() == [417, 2683, 3140, 7404]
    assert ds.get_batch("val", 3, batch_size=4, context=8, seed=1)[0][:, 0].tolist() == [168, 89, 242, 342]


def test_shortest_split_gives_its_only_window():
    ds = TokenDataset(torch.arange(9), torch.arange(9), 9)
    x, y = ds.get_batch("train", 5, batch_size=3, context=8, seed=0)
    assert torch.equal(x, torch.arange(8).expand(3, 8))
    assert torch.equal(y, torch.arange(1, 9).expand(3, 8))


def test_eval_batches_cover_the_split_once_in_order():
    ds = counting_dataset(n_val=1001)
    batches = list(ds.eval_batches("val", batch_size=4, context=100))
    assert [x.shape[0] for x, _ in batches] == [4, 4, 2]  # 10 windows of 100; the last batch is short
    inputs = torch.cat([x for x, _ in batches])
    targets = torch.cat([y for _, y in batches])
    assert torch.equal(inputs.reshape(-1), torch.arange(1000))
    assert torch.equal(targets, inputs + 1)


def test_eval_batches_respect_max_batches_and_repeat():
    ds = counting_dataset()
    first = [x for x, _ in ds.eval_batches(batch_size=2, context=10, max_batches=3)]
    second = [x for x, _ in ds.eval_batches(batch_size=2, context=10, max_batches=3)]
    assert len(first) == 3
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"split": "train", "step": 0, "batch_size": 2, "context": 10_000}, "context=10000"),
        ({"split": "train", "step": 0, "batch_size": 0, "context": 8}, "batch_size=0"),
        ({"split": "train", "step": -1, "batch_size": 2, "context": 8}, "step=-1"),
        ({"split": "test", "step": 0, "batch_size": 2, "context": 8}, "split='test'"),
    ],
)
def test_bad_batch_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        counting_dataset().get_batch(**kwargs)


def test_dataset_rejects_out_of_range_and_float_tokens():
    with pytest.raises(ValueError, match="vocab_size=256"):
        TokenDataset(torch.tensor([0, 256]), torch.tensor([0, 1]), 256)
    with pytest.raises(ValueError, match="dtype"):
        TokenDataset(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 256)
    with pytest.raises(ValueError, match="at least 2"):
        TokenDataset(torch.tensor([0, 1]), torch.tensor([1]), 256)


def test_unigram_entropy_on_known_distributions():
    assert unigram_entropy_bits(torch.arange(4).repeat(25), 4) == pytest.approx(2.0)
    assert unigram_entropy_bits(torch.full((50,), 7), 256) == 0.0
    assert unigram_entropy_bits(torch.tensor([0, 0, 1, 2]), 3) == pytest.approx(1.5)
    assert unigram_entropy_bits(torch.arange(256, dtype=torch.uint8).reshape(16, 16), 256) == pytest.approx(8.0)
    assert unigram_entropy_bits(torch.tensor([0, 1, 1]), 2) == pytest.approx(math.log2(3) - 2 / 3)


def test_unigram_entropy_rejects_bad_input():
    with pytest.raises(ValueError, match="vocab_size=4"):
        unigram_entropy_bits(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match="empty"):
        unigram_entropy_bits(torch.tensor([], dtype=torch.long), 4)
