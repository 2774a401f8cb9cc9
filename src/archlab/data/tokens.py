"""A token stream for language modelling: train/validation tensors, seeded batches and unigram entropy.

``TokenDataset`` holds two 1-D integer tensors (``train`` and ``val``) over a vocabulary of ``vocab_size``
ids. Byte-level corpora (``archlab.data.text``) store ``uint8``; batches are always ``torch.long``.

Batches follow the nanoGPT recipe (random windows of ``context + 1`` tokens; targets are the inputs shifted
by one), with one difference: the batch of training step ``s`` is a pure function of ``(seed, split, step)``.
Its window starts come from ``archlab.data.streams.step_generator(seed, split, step)``, so a resumed run
sees exactly the batches it would have seen, and data-parallel ranks can each compute the global batch of a
step and take their own slice of it.

``unigram_entropy_bits`` is the entropy H = -sum_v p(v) log2 p(v) of the empirical token distribution: the
bits per token a model that ignores context can at best reach, the baseline a language model must beat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from archlab.data.streams import step_generator

Split = Literal["train", "val"]
SPLITS: tuple[Split, ...] = ("train", "val")


@dataclass
class TokenDataset:
    """Train and validation token streams over ``vocab_size`` ids.

    ``train`` and ``val`` are 1-D integer tensors with values in ``[0, vocab_size)``; ``name`` says where
    the tokens came from (shown in logs and reports).
    """

    train: Tensor
    val: Tensor
    vocab_size: int
    name: str = ""

    def __post_init__(self) -> None:
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size={self.vocab_size} must be at least 1")
        for split in SPLITS:
            tokens = self.split(split)
            if tokens.dim() != 1:
                raise ValueError(f"{split} has shape {tuple(tokens.shape)}; it must be a 1-D token tensor")
            if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
                raise ValueError(f"{split} has dtype {tokens.dtype}; it must hold integer token ids")
            if tokens.numel() < 2:
                raise ValueError(f"{split} has {tokens.numel()} tokens; it needs at least 2 (an input and a target)")
            low, high = int(tokens.min()), int(tokens.max())
            if low < 0 or high >= self.vocab_size:
                raise ValueError(
                    f"{split} holds token ids in [{low}, {high}]; they must lie in [0, vocab_size={self.vocab_size})"
                )

    def split(self, split: Split) -> Tensor:
        """The token stream of ``split`` ("train" or "val")."""
        if split == "train":
            return self.train
        if split == "val":
            return self.val
        raise ValueError(f"split={split!r} must be one of {SPLITS}")

    def get_batch(
        self, split: Split, step: int, *, batch_size: int, context: int, seed: int = 0
    ) -> tuple[Tensor, Tensor]:
        """The batch of ``step``: ``(inputs, targets)``, both ``(B, L)`` long, targets = inputs shifted by one.

        A pure function of ``(seed, split, step, batch_size, context)``: the same arguments give the same
        batch in any process, whatever was sampled before.
        """
        tokens = self._checked(split, batch_size=batch_size, context=context)
        if step < 0:
            raise ValueError(f"step={step} must be >= 0")
        generator = step_generator(seed, split, step)
        starts = torch.randint(0, tokens.numel() - context, (batch_size,), generator=generator)  # (B,)
        return _windows(tokens, starts, context)

    def eval_batches(
        self, split: Split = "val", *, batch_size: int, context: int, max_batches: int | None = None
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Non-overlapping windows over ``split`` from its start, in order: ``(inputs, targets)`` of ``(B, L)``.

        Window ``i`` covers tokens ``[i * L, (i + 1) * L]``; every target token of the split (but the first
        token) is predicted once. The last batch may hold fewer than ``batch_size`` windows. At most
        ``max_batches`` batches are yielded when it is given.
        """
        tokens = self._checked(split, batch_size=batch_size, context=context)
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"max_batches={max_batches} must be >= 1 or None")
        n_windows = (tokens.numel() - 1) // context
        n_batches = -(-n_windows // batch_size)
        if max_batches is not None:
            n_batches = min(n_batches, max_batches)
        for b in range(n_batches):
            first = b * batch_size
            starts = torch.arange(first, min(first + batch_size, n_windows)) * context  # (B,)
            yield _windows(tokens, starts, context)

    def _checked(self, split: Split, *, batch_size: int, context: int) -> Tensor:
        tokens = self.split(split)
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        if context < 1:
            raise ValueError(f"context={context} must be >= 1")
        if context >= tokens.numel():
            raise ValueError(
                f"context={context} must be smaller than the {split} split's {tokens.numel()} tokens "
                "(a window needs context + 1 tokens)"
            )
        return tokens


def _windows(tokens: Tensor, starts: Tensor, context: int) -> tuple[Tensor, Tensor]:
    index = starts[:, None] + torch.arange(context + 1)[None, :]  # (B, L + 1)
    window = tokens[index].long()  # (B, L + 1)
    return window[:, :-1], window[:, 1:]


def unigram_entropy_bits(tokens: Tensor, vocab_size: int) -> float:
    """Entropy in bits of the empirical unigram distribution of ``tokens`` (any shape, ids in [0, vocab_size))."""
    flat = tokens.reshape(-1).long()  # (N,)
    if flat.numel() == 0:
        raise ValueError("tokens is empty; the entropy of no tokens is undefined")
    if int(flat.min()) < 0 or int(flat.max()) >= vocab_size:
        raise ValueError(
            f"tokens hold ids in [{int(flat.min())}, {int(flat.max())}]; they must lie in [0, vocab_size={vocab_size})"
        )
    counts = torch.bincount(flat, minlength=vocab_size).double()  # (V,)
    p = counts[counts > 0] / flat.numel()
    return float((p * (1.0 / p).log2()).sum())
