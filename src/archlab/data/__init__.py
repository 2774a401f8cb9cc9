"""Datasets: byte-level text corpora (the standard library's source, users' own files), the digits, BPE.

- ``stdlib_corpus`` / ``text_corpus``: byte-level ``TokenDataset``s split into train and validation by file.
- ``TokenDataset.get_batch``: the language-modelling batch of a training step, a pure function of
  ``(seed, split, step)``; ``TokenDataset.eval_batches``: non-overlapping windows for evaluation.
- ``unigram_entropy_bits``: the context-free baseline a language model's bits per token must beat.
- ``digits_dataset``: scikit-learn's 8x8 handwritten digits as an ``ImageDataset``.
- ``BPETokenizer``: an optional byte-level BPE trained with ``tokenizers``.
"""

from archlab.data.images import ImageDataset, digits_dataset
from archlab.data.text import (
    BYTE_VOCAB_SIZE,
    DEFAULT_EXTENSIONS,
    decode_bytes,
    encode_bytes,
    stdlib_corpus,
    text_corpus,
)
from archlab.data.tokenizer import BPETokenizer
from archlab.data.tokens import Split, TokenDataset, unigram_entropy_bits

__all__ = [
    "BYTE_VOCAB_SIZE",
    "DEFAULT_EXTENSIONS",
    "BPETokenizer",
    "ImageDataset",
    "Split",
    "TokenDataset",
    "decode_bytes",
    "digits_dataset",
    "encode_bytes",
    "stdlib_corpus",
    "text_corpus",
    "unigram_entropy_bits",
]
