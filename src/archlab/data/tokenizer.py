"""An optional byte-level BPE tokenizer, trained with Hugging Face ``tokenizers``.

Byte-pair encoding (Sennrich et al. 2016) over bytes, as in GPT-2 (Radford et al. 2019): text is split
into words by the GPT-2 regular expression, each word is mapped to its UTF-8 bytes (shown as 256
printable stand-in characters), and merges of frequent adjacent pairs are learned until the vocabulary
holds ``vocab_size`` entries. Every byte is in the initial alphabet, so any text encodes and
``decode(encode(text)) == text``. No special tokens are added. The learned vocabulary can be smaller than
``vocab_size`` when the training text has too few repeated pairs; ``vocab_size`` reports the real size.

Saved as ``tokenizer.json`` in a directory, the format ``tokenizers.Tokenizer.from_file`` and
``transformers.PreTrainedTokenizerFast(tokenizer_file=...)`` read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from archlab.data.text import BYTE_VOCAB_SIZE, decode_bytes
from archlab.data.tokens import SPLITS, TokenDataset
from archlab.errors import UserError

TOKENIZER_FILE = "tokenizer.json"


class BPETokenizer:
    """A byte-level BPE tokenizer: ``train`` or ``from_corpus`` it, then ``encode``/``decode``/``save``/``load``."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, *, min_frequency: int = 2) -> BPETokenizer:
        """Learn merges from ``texts`` (e.g. lines of a corpus) until ``vocab_size`` entries.

        ``min_frequency`` is the fewest occurrences a pair needs to be merged.
        """
        if vocab_size <= BYTE_VOCAB_SIZE:
            raise ValueError(
                f"vocab_size={vocab_size} must be greater than {BYTE_VOCAB_SIZE}: "
                f"a byte-level BPE starts from the {BYTE_VOCAB_SIZE} byte symbols and needs room for merges"
            )
        if min_frequency < 1:
            raise ValueError(f"min_frequency={min_frequency} must be >= 1")
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[],
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    @classmethod
    def from_corpus(cls, dataset: TokenDataset, vocab_size: int, *, min_frequency: int = 2) -> BPETokenizer:
        """Train on the ``train`` split of a byte-level corpus (validation text is never seen)."""
        _check_byte_level(dataset)
        return cls.train(_lines(dataset.train), vocab_size, min_frequency=min_frequency)

    @property
    def vocab_size(self) -> int:
        """Number of token ids (the 256 bytes plus the learned merges)."""
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        return self.tokenizer.encode(text).ids

    def decode(self, ids: Sequence[int]) -> str:
        """The text of token ids ``ids``."""
        return self.tokenizer.decode(list(ids))

    def encode_dataset(self, dataset: TokenDataset) -> TokenDataset:
        """Re-tokenize a byte-level corpus: each split's bytes are decoded as UTF-8 and encoded with BPE."""
        _check_byte_level(dataset)
        streams = []
        for split in SPLITS:
            encodings = self.tokenizer.encode_batch(_lines(dataset.split(split)))
            streams.append(torch.tensor([i for e in encodings for i in e.ids], dtype=torch.int32))  # (L,)
        train, val = streams
        return TokenDataset(train, val, self.vocab_size, name=f"{dataset.name}-bpe{self.vocab_size}")

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``directory/tokenizer.json`` (creating the directory) and return its path."""
        path = Path(directory) / TOKENIZER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(path))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> BPETokenizer:
        """Read ``directory/tokenizer.json`` written by ``save``."""
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise UserError(f"no {TOKENIZER_FILE} at {str(path)!r}; pass the directory a BPETokenizer was saved to")
        return cls(Tokenizer.from_file(str(path)))


def _check_byte_level(dataset: TokenDataset) -> None:
    if dataset.vocab_size != BYTE_VOCAB_SIZE:
        raise ValueError(
            f"dataset {dataset.name!r} has vocab_size={dataset.vocab_size}; "
            f"BPE reads byte-level corpora (vocab_size={BYTE_VOCAB_SIZE})"
        )


def _lines(tokens: torch.Tensor) -> list[str]:
    return decode_bytes(tokens).splitlines(keepends=True)
