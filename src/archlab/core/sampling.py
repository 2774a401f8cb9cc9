"""Choosing the next token from logits: greedy, temperature, top-k (Fan et al. 2018) and nucleus/top-p
(Holtzman et al. 2020) sampling, shared by every family's language models."""

from __future__ import annotations

import math

import torch


def _check_filters(top_k: int | None, top_p: float | None) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k={top_k!r} must be an integer >= 1")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p={top_p} must be in (0, 1]")


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """ValueError unless ``temperature`` is a finite number >= 0, ``top_k`` an integer >= 1 (or None) and
    ``top_p`` in (0, 1] (or None): checked before any decoding, and again per token."""
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature={temperature} must be a finite number >= 0")
    _check_filters(top_k, top_p)


def filter_logits(logits: torch.Tensor, *, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf every logit outside the top ``k`` and outside the smallest set whose mass reaches ``p``.

    ``logits``: (B, V). The most likely token always survives; ``top_p=1`` keeps every token.
    """
    _check_filters(top_k, top_p)
    if top_k is not None:
        k = min(top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:  # at 1.0, float32 rounding of the cumulative sum would drop the tail
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)  # (B, V)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs  # mass of strictly more likely tokens
        drop_sorted = mass_before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next_token(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Next token ids (B,) from ``logits`` (B, V); ``temperature=0`` is greedy."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(dim=-1)
    filtered = filter_logits(logits.float() / temperature, top_k=top_k, top_p=top_p)
    probs = torch.softmax(filtered, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
