"""Byte-level BPE: exact round trips, compression, save/load, re-tokenizing a byte corpus."""

import pytest
import torch

from archlab.data import BPETokenizer, TokenDataset, decode_bytes, stdlib_corpus
from archlab.errors import UserError

TEXTS = [f"def function_{i}(value):\n    return value * {i} + offset\n" for i in range(200)]
SAMPLE = "def function_7(value):\n    return value * 7 + offset\n  héllo 日本 🙂\r\n\x00\ttabs  "


@pytest.fixture(scope="module")
def tokenizer():
    return BPETokenizer.train(TEXTS, vocab_size=300)


def test_round_trip_and_compression(tokenizer):
    assert tokenizer.decode(tokenizer.encode(SAMPLE)) == SAMPLE  # unseen characters too: every byte is known
    common = TEXTS[3]
    assert len(tokenizer.encode(common)) < len(common.encode("utf-8")) / 2  # merges were learned
    assert 256 < tokenizer.vocab_size <= 300


def test_training_is_deterministic(tokenizer):
    again = BPETokenizer.train(TEXTS, vocab_size=300)
    assert again.encode(SAMPLE) == tokenizer.encode(SAMPLE)


@pytest.mark.parametrize("vocab_size", [0, 100, 256])
def test_too_small_vocab_size_names_field_value_and_rule(vocab_size):
    with pytest.raises(ValueError, match=f"vocab_size={vocab_size} must be greater than 256"):
        BPETokenizer.train(TEXTS, vocab_size=vocab_size)


def test_save_and_load(tokenizer, tmp_path):
    path = tokenizer.save(tmp_path / "tok")
    assert path == tmp_path / "tok" / "tokenizer.json" and path.is_file()
    loaded = BPETokenizer.load(tmp_path / "tok")
    assert loaded.encode(SAMPLE) == tokenizer.encode(SAMPLE)
    assert loaded.vocab_size == tokenizer.vocab_size
    with pytest.raises(UserError, match="no tokenizer.json"):
        BPETokenizer.load(tmp_path / "missing")


def test_encode_dataset_keeps_the_text():
    corpus = stdlib_corpus(max_bytes=40_000)
    tok = BPETokenizer.from_corpus(corpus, vocab_size=400)
    bpe = tok.encode_dataset(corpus)
    assert bpe.vocab_size == tok.vocab_size
    for split in ("train", "val"):
        assert tok.decode(bpe.split(split).tolist()) == decode_bytes(corpus.split(split))
        assert bpe.split(split).numel() < corpus.split(split).numel()
    x, y = bpe.get_batch("train", 0, batch_size=2, context=16, seed=0)
    assert x.dtype == torch.long and int(x.max()) < tok.vocab_size


def test_encode_dataset_needs_bytes(tokenizer):
    ids = TokenDataset(torch.arange(10), torch.arange(10), vocab_size=1000)
    with pytest.raises(ValueError, match="vocab_size=1000"):
        tokenizer.encode_dataset(ids)
