"""Synthetic task generators against their definitions (Zoology's MQAR, Mamba's selective copying and
induction heads)."""

import pytest
import torch

from archlab.data.synthetic import induction_heads, mqar, selective_copying


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("pairs", [4, 8, 16])
def test_mqar_follows_the_zoology_generator(pairs):
    x, y = mqar(200, vocab_size=256, seq_len=64, num_kv_pairs=pairs, generator=gen())
    assert x.shape == y.shape == (200, 64)
    context = 2 * pairs
    keys, values = x[:, 0:context:2], x[:, 1:context:2]
    assert keys.min() >= 1 and keys.max() <= 127 and values.min() >= 128 and values.max() <= 255
    for row in range(200):
        assert len(set(keys[row].tolist())) == pairs and len(set(values[row].tolist())) == pairs  # no repeats
        table = dict(zip(keys[row].tolist(), values[row].tolist()))
        queried = (y[row] != -100).nonzero().flatten()
        assert len(queried) == pairs and queried.min() >= context and bool(((queried - context) % 2 == 0).all())
        assert sorted(x[row, queried].tolist()) == sorted(table)  # every key is queried exactly once
        assert all(table[x[row, q].item()] == y[row, q].item() for q in queried)  # label = the paired value
        rest = torch.ones(64, dtype=torch.bool)
        rest[:context], rest[queried] = False, False
        assert bool((x[row, rest] == 0).all())  # fillers are 0
    assert bool((y[:, :context] == -100).all())


def test_mqar_gaps_favour_short_distances_and_random_fillers():
    x, y = mqar(2000, num_kv_pairs=4, generator=gen())
    gaps = ((y != -100).nonzero()[:, 1] - 8) // 2  # (n * K,)
    counts = torch.bincount(gaps, minlength=28).float()
    assert counts[:4].sum() > 2 * counts[-4:].sum()  # p(g) ~ g^(a - 1): short gaps more likely
    x2, _ = mqar(50, num_kv_pairs=4, random_non_queries=True, generator=gen())
    assert (x2[:, 8:] != 0).float().mean() > 0.9


def test_mqar_is_seeded():
    a, b = mqar(10, generator=gen(3)), mqar(10, generator=gen(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("kw, message", [
    (dict(num_kv_pairs=17), "4 \\* num_kv_pairs=68 must be <= seq_len=64"),
    (dict(vocab_size=64), "vocab_size=64 must be > seq_len=64"),
    (dict(seq_len=63), "seq_len=63 must be even"),
    (dict(power_a=0.0), "power_a=0.0 must be in"),
])
def test_mqar_rejects_bad_settings(kw, message):
    with pytest.raises(ValueError, match=message):
        mqar(2, **kw)


def test_selective_copying_definition():
    x, y = selective_copying(100, length=64, n_data=8, n_symbols=8, generator=gen())
    assert x.shape == y.shape == (100, 72)
    assert bool((x[:, 64:] == 9).all()) and bool((y[:, :64] == -100).all())  # go markers, labels only there
    for row in range(100):
        data = x[row, :64][x[row, :64] != 0]  # the data tokens in order, noise (0) removed
        assert len(data) == 8 and data.min() >= 1 and data.max() <= 8
        assert torch.equal(y[row, 64:], data)
    spread = torch.stack([(x[r, :64] != 0).nonzero().flatten() for r in range(100)])
    assert spread.float().std() > 10  # positions are random over the whole stretch


def test_induction_heads_definition():
    x, y = induction_heads(200, length=64, vocab_size=16, generator=gen())
    assert x.shape == (200, 64) and x.max() <= 15
    assert bool((y[:, :-1] == -100).all())
    for row in range(200):
        triggers = (x[row] == 0).nonzero().flatten().tolist()
        assert len(triggers) == 2 and triggers[1] == 63  # once inside, once at the end
        assert y[row, -1] == x[row, triggers[0] + 1] and y[row, -1] != 0


def test_bad_lengths():
    with pytest.raises(ValueError, match="n_data=9 must be <= length=8"):
        selective_copying(2, length=8, n_data=9)
    with pytest.raises(ValueError, match="length=3 must be >= 4"):
        induction_heads(2, length=3)
