"""The word vocabulary of the built-in multimodal digits: captions and questions are sentences over a closed set
of words, so a text encoder or a small language model reads them as word ids.

``encode(text)`` gives ``<bos> w_1 .. w_n <eos>`` (the end token is where a CLIP text encoder pools, Radford et al.
2021, section 2.4); ``pad(sequences)`` right-pads a batch with ``<pad>`` and returns the ids and the attention
mask (1 for real tokens).
"""

from __future__ import annotations

import torch

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPECIAL = ("<pad>", "<bos>", "<eos>")
WORDS = SPECIAL + NUMBER_WORDS + ("a", "an", "handwritten", "to", "the", "left", "right", "of", "what", "digit",
                                  "is", "on", "this", "there", "yes", "no", "?")
PAD, BOS, EOS = 0, 1, 2
INDEX = {word: i for i, word in enumerate(WORDS)}


def encode(text: str) -> list[int]:
    """``<bos>`` + the ids of the words of ``text`` (split on spaces) + ``<eos>``; an unknown word is an error."""
    ids = [BOS]
    for word in text.split():
        if word not in INDEX:
            raise ValueError(f"word {word!r} is not in the multimodal digits vocabulary")
        ids.append(INDEX[word])
    return ids + [EOS]


def decode(ids: list[int]) -> str:
    """The words of ``ids`` without special tokens."""
    return " ".join(WORDS[i] for i in ids if WORDS[i] not in SPECIAL)


def pad(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, L) and attention mask (B, L), L the longest sequence."""
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), PAD, dtype=torch.long)
    mask = torch.zeros(len(sequences), length, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask


def article(word: str) -> str:
    """``"an"`` before a vowel sound, else ``"a"``; of the digit words only ``eight`` starts with one (``a one``)."""
    return "an" if word == "eight" else "a"
