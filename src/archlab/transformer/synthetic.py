"""Synthetic tasks for the transformer family's claims, as ``SampledTask``s (``archlab.lab.experiment``).

- ``SortednessTask``: is a sequence of tokens sorted? Positives are sorted draws; negatives are random
  orderings of the same draws, so the two classes hold the same multisets and only order tells them apart.
  The model is an ``Encoder`` with mean pooling and a linear head (``SequenceClassifier``).
- ``RepeatedTokensTask``: random tokens ``x_1 .. x_n`` followed by the same ``n`` tokens again (Olsson et al.
  2022, "In-context Learning and Induction Heads"), with ``n`` drawn per sequence so that no fixed offset
  finds the copy; the rest of the window is random filler whose targets are ignored. A ``DecoderLM`` learns it
  by next-token prediction; ``repeat_losses`` gives the loss on the first and on the second repeat.
  Simplification: the ``n`` tokens of a repeat are drawn uniformly *without* replacement from a vocabulary
  that holds at least ``n`` tokens (Olsson et al. draw from a large vocabulary, where repeats within the first
  half are rare too). Drawn with replacement from a small vocabulary, the current token would occur several
  times in the first repeat and one-token induction would be ambiguous; drawn from a large vocabulary, a
  one-layer model could learn "the next token is one already seen" and lower the second-repeat loss without
  copying. Without replacement, "not seen yet" (first repeat) and "seen once, not yet repeated" (second repeat)
  narrow the candidates alike in both halves, so only copying separates them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archlab.lab.experiment import SampledTask
from archlab.transformer.encoder import Encoder, EncoderConfig, pool
from archlab.transformer.lm import DecoderLM, LMConfig


class SequenceClassifier(nn.Module):
    """An ``Encoder``, mean pooling and a linear head: ids (B, L) -> class logits (B, n_classes)."""

    def __init__(self, config: EncoderConfig, *, n_classes: int = 2) -> None:
        super().__init__()
        self.encoder = Encoder(config)
        self.head = nn.Linear(config.d_model, n_classes)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids).last_hidden_state  # (B, L, D)
        return self.head(pool(hidden, None, "mean"))  # (B, n_classes)


def sortedness_batch(batch: int, length: int, vocab: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` sequences (B, L) and labels (B,), 1 for sorted (non-decreasing), about half of each. A shuffled
    draw that happens to come out sorted is labelled 1."""
    draws = torch.randint(0, vocab, (batch, length), generator=generator)  # (B, L)
    sorted_draws = draws.sort(dim=1).values
    shuffle = torch.rand(batch, length, generator=generator).argsort(dim=1)  # (B, L) random permutations
    shuffled = sorted_draws.gather(1, shuffle)
    want_sorted = torch.rand(batch, generator=generator) < 0.5
    seqs = torch.where(want_sorted[:, None], sorted_draws, shuffled)
    labels = (seqs[:, 1:] >= seqs[:, :-1]).all(dim=1).long()
    return seqs, labels


class SortednessTask(SampledTask):
    """Train a ``SequenceClassifier`` to say whether a sequence is sorted."""

    def __init__(self, config: EncoderConfig, *, length: int, vocab: int, batch_size: int, seed: int,
                 eval_size: int = 1024) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        self.model = SequenceClassifier(config)
        self.length, self.vocab = length, vocab

    def sample(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return sortedness_batch(size, self.length, self.vocab, generator)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], player: str) -> torch.Tensor:
        seqs, labels = batch
        return F.cross_entropy(self.model(seqs), labels)

    def evaluate(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        seqs, labels = batch
        logits = self.model(seqs)
        return {"val_loss": F.cross_entropy(logits, labels),
                "val_accuracy": (logits.argmax(-1) == labels).float().mean()}

    def batch_tokens(self, batch: tuple[torch.Tensor, torch.Tensor]) -> int:
        return batch[0].numel()


def repeated_tokens_batch(
    batch: int, window: int, vocab: int, min_repeat: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs (B, window - 1), targets (B, window - 1) with -100 on the filler, and the repeat lengths (B,).

    Sequence b is ``x (n_b tokens), x again, filler`` with ``n_b`` uniform in [min_repeat, window // 2]; the
    tokens of ``x`` are distinct (a uniform draw without replacement), the filler is uniform with replacement."""
    if not 2 <= min_repeat <= window // 2:
        raise ValueError(f"min_repeat={min_repeat} must be in [2, window // 2 = {window // 2}]")
    if vocab < window // 2:
        raise ValueError(f"vocab={vocab} must be >= window // 2 = {window // 2} (a repeat has distinct tokens)")
    n = torch.randint(min_repeat, window // 2 + 1, (batch,), generator=generator)  # (B,)
    distinct = torch.rand(batch, vocab, generator=generator).argsort(dim=1)[:, : window // 2]  # (B, T/2) permutations
    filler = torch.randint(0, vocab, (batch, window - window // 2), generator=generator)  # (B, T - T/2)
    tokens = torch.cat((distinct, filler), dim=1)  # (B, T); positions >= n_b are overwritten or filler
    pos = torch.arange(window)[None, :]  # (1, T)
    second = (pos >= n[:, None]) & (pos < 2 * n[:, None])  # (B, T) positions of the second repeat
    source = torch.where(second, pos - n[:, None], pos)  # (B, T) copy x into the second repeat
    seqs = tokens.gather(1, source)
    targets = seqs[:, 1:].masked_fill(pos[:, 1:] >= 2 * n[:, None], -100)  # no targets in the filler
    return seqs[:, :-1], targets, n


def repeat_losses(model: DecoderLM, inputs: torch.Tensor, targets: torch.Tensor, n: torch.Tensor) -> tuple[float, float]:
    """Mean next-token loss on the first repeat and on the second, over the same offsets 1 .. n-1 of each.

    With 0-based positions ``x`` sits at ``0 .. n-1`` and its copy at ``n .. 2n-1``. The first-repeat loss
    averages the predictions of the tokens at positions ``1 .. n-1`` (x_2 .. x_n), the second-repeat loss those
    at ``n+1 .. 2n-1`` (x_2 .. x_n again), pooled over all sequences. Position 0 is never a target, and the
    token at ``n`` (x_1 again) is left out: nothing before it says the copy starts there."""
    logits = model(inputs).logits  # (B, T-1, V)
    losses = F.cross_entropy(logits.transpose(1, 2), targets.clamp_min(0), reduction="none")  # (B, T-1)
    target_pos = torch.arange(1, inputs.shape[1] + 1)[None, :]  # (1, T-1) position of each target
    first = (target_pos >= 1) & (target_pos < n[:, None])
    second = (target_pos >= n[:, None] + 1) & (target_pos < 2 * n[:, None])
    return float(losses[first].mean()), float(losses[second].mean())


class RepeatedTokensTask(SampledTask):
    """Next-token prediction on repeated random tokens with a ``DecoderLM``."""

    def __init__(self, config: LMConfig, *, window: int, min_repeat: int, batch_size: int, seed: int,
                 eval_size: int = 512) -> None:
        if config.max_seq_len < window - 1:
            raise ValueError(f"max_seq_len={config.max_seq_len} must be >= window - 1 = {window - 1}")
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        self.model = DecoderLM(config)
        self.window, self.min_repeat = window, min_repeat

    def sample(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return repeated_tokens_batch(size, self.window, self.model.config.vocab_size, self.min_repeat, generator)

    def loss(self, batch: tuple[torch.Tensor, ...], player: str) -> torch.Tensor:
        inputs, targets, _ = batch
        return self.model(inputs, labels=targets).loss

    def evaluate(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        first, second = repeat_losses(self.model, *batch)
        return {"val_loss_first_repeat": torch.tensor(first), "val_loss_second_repeat": torch.tensor(second)}

    def batch_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return batch[0].numel()
