"""The adding problem of Hochreiter and Schmidhuber (1997, Section 5, Experiment 4), its model and its task.

A sequence is ``n`` pairs ``(value, marker)`` with ``n`` uniform in ``[T, T + T // 10]``; values are uniform in
``[-1, 1]``. Exactly two pairs carry marker 1: ``X1``, one of the first 10 pairs, and ``X2``, one of the first
``T/2 - 1`` pairs not already marked. The first and the last pair carry marker -1 (unless the first is marked);
every other marker is 0. When the first pair is marked its value is set to 0 (the paper says so of ``X1``;
here of whichever marked pair it is). The target, given only after the last pair, is
``0.5 + (X1 + X2) / 4``, and a sequence counts as solved when ``|prediction - target| < 0.04``. Predicting
0.5 always solves about 15% of sequences (``|X1 + X2| < 0.16``), the chance level.

Batches are right-padded with zero pairs to the longest sequence; ``AddingModel`` reads its prediction at each
sequence's own last pair. ``AddingTask`` trains it through ``archlab.train.fit``, a ``SampledTask``
(``archlab.lab.experiment``: the batch of step ``s`` from the ``"train"`` stream of the seed, the held-out set
from its ``"eval"`` stream); the loss is the mean squared error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.lab.experiment import SampledTask
from archlab.rnn.layers import RecurrentLayer

TOLERANCE = 0.04


@dataclass
class AddingBatch:
    """``x`` (B, L, 2) pairs (value, marker), zero-padded; ``lengths`` (B,) real lengths; ``target`` (B,)."""

    x: torch.Tensor
    lengths: torch.Tensor
    target: torch.Tensor


def adding_problem(batch: int, min_length: int, *, generator: torch.Generator | None = None) -> AddingBatch:
    """``batch`` sequences of the adding problem with minimal length ``T = min_length`` (see the module)."""
    t_min = min_length
    if t_min < 24:
        raise ValueError(f"min_length={t_min} must be >= 24 (X2 is drawn from the first T/2 - 1 unmarked pairs, "
                         "which must lie beyond the first 10)")
    if batch < 1:
        raise ValueError(f"batch={batch} must be >= 1")
    lengths = torch.randint(t_min, t_min + t_min // 10 + 1, (batch,), generator=generator)  # (B,)
    width = int(lengths.max())
    rows = torch.arange(batch)
    values = torch.rand(batch, width, generator=generator) * 2 - 1  # (B, L) in [-1, 1]
    values = values * (torch.arange(width)[None, :] < lengths[:, None])  # zero padding
    markers = torch.zeros(batch, width)
    markers[:, 0] = -1.0
    markers[rows, lengths - 1] = -1.0
    first = torch.randint(0, 10, (batch,), generator=generator)  # X1 among the first 10 pairs
    n_second = t_min // 2 - 1
    pick = torch.randint(0, n_second, (batch,), generator=generator)  # index among the first T/2 - 1 unmarked
    second = pick + (pick >= first).long()  # skip X1's position
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    values[:, 0] = torch.where(markers[:, 0] == 1.0, 0.0, values[:, 0])
    target = 0.5 + (values[rows, first] + values[rows, second]) / 4
    x = torch.stack((values, markers), dim=-1)  # (B, L, 2)
    return AddingBatch(x=x, lengths=lengths, target=target)


def solved_fraction(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """The share of sequences with ``|prediction - target| < 0.04``."""
    return float(((prediction - target).abs() < TOLERANCE).float().mean())


class AddingModel(nn.Module):
    """A one-layer recurrent net with a linear read-out at each sequence's last pair: (B, L, 2) -> (B,)."""

    def __init__(self, *, kind: Literal["rnn", "lstm", "gru"], hidden_size: int, **layer_options) -> None:
        super().__init__()
        self.rnn = RecurrentLayer(kind=kind, input_size=2, hidden_size=hidden_size, **layer_options)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, L, H)
        last = out[torch.arange(x.shape[0]), lengths - 1]  # (B, H)
        return self.head(last).squeeze(-1)  # (B,)


class AddingTask(SampledTask):
    """Mean-squared-error training on fresh adding-problem batches; ``evaluate`` reports ``solved``."""

    def __init__(self, model: AddingModel, *, min_length: int, batch_size: int, seed: int, eval_size: int) -> None:
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        self.model, self.min_length = model, min_length

    def sample(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = adding_problem(size, self.min_length, generator=generator)
        return b.x, b.lengths, b.target

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], player: str) -> torch.Tensor:
        x, lengths, target = batch
        return (self.model(x, lengths) - target).pow(2).mean()

    def evaluate(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, lengths, target = batch
        error = (self.model(x, lengths) - target).abs()
        return {"val_mse": error.pow(2).mean(), "solved": (error < TOLERANCE).float().mean()}
