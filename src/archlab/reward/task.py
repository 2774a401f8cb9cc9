"""Training tasks of the reward family: the Bradley-Terry loss on labelled pairs, for feature vectors and texts.

Both draw the batch of step ``s`` from a fixed training set of pairs with ``step_generator(seed, "train", s)``
(uniformly, with replacement: a pure function of seed and step) and evaluate on a fixed held-out set of pairs:
``val_loss`` (the Bradley-Terry loss) and ``val_accuracy`` (the fraction of pairs ordered as labelled).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from archlab.data.streams import step_generator
from archlab.reward.losses import bradley_terry_loss
from archlab.reward.synthetic import PairBatch
from archlab.train.task import Batch, LossOutput, Task


def _accuracy(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    return ((chosen > rejected).float() + 0.5 * (chosen == rejected).float()).mean()


class FeaturePairTask(Task):
    """Bradley-Terry training of a feature reward model (``FeatureReward``) on the pairs of ``train`` with
    ``margin`` (0: the plain loss); batches of ``batch_size`` pairs; held-out pairs ``held_out``."""

    def __init__(self, model: nn.Module, train: PairBatch, held_out: PairBatch, *, batch_size: int, seed: int,
                 margin: float = 0.0) -> None:
        if len(train) < 1:
            raise ValueError("the training set has no pairs")
        self.model, self.train, self.held, self.seed, self.margin = model, train, held_out, seed, margin
        self.batch_size = batch_size

    def train_batch(self, step: int, substep: int = 0) -> Batch:
        index = torch.randint(len(self.train), (self.batch_size,), generator=step_generator(self.seed, "train", step))
        pairs = self.train.subset(index)
        return pairs.chosen, pairs.rejected  # (B, F) each

    def loss(self, batch: Batch, player: str) -> LossOutput:
        chosen, rejected = batch
        r_chosen, r_rejected = self.model(torch.cat([chosen, rejected])).chunk(2)  # (2B,) -> (B,), (B,)
        loss = bradley_terry_loss(r_chosen, r_rejected, margin=self.margin or None)
        return LossOutput(loss, {"accuracy": _accuracy(r_chosen.detach(), r_rejected.detach())})

    def eval_batches(self) -> Iterable[Batch]:
        return [(self.held.chosen, self.held.rejected)]


class TextPairTask(Task):
    """Bradley-Terry training of a ``RewardModel`` on tokenised pairs: ``pairs`` holds ``chosen_ids``,
    ``chosen_mask``, ``rejected_ids``, ``rejected_mask`` (N, L) tensors; ``held_out`` the same for evaluation."""

    KEYS = ("chosen_ids", "chosen_mask", "rejected_ids", "rejected_mask")

    def __init__(self, model: nn.Module, pairs: dict[str, torch.Tensor], held_out: dict[str, torch.Tensor], *,
                 batch_size: int, seed: int, margin: float = 0.0) -> None:
        for name, tensors in (("pairs", pairs), ("held_out", held_out)):
            if sorted(tensors) != sorted(self.KEYS):
                raise ValueError(f"{name} must hold exactly {self.KEYS}, got {sorted(tensors)}")
        self.model, self.pairs, self.held, self.seed, self.margin = model, pairs, held_out, seed, margin
        self.batch_size = batch_size
        self.size = pairs["chosen_ids"].shape[0]

    def train_batch(self, step: int, substep: int = 0) -> Batch:
        index = torch.randint(self.size, (self.batch_size,), generator=step_generator(self.seed, "train", step))
        return {key: value[index] for key, value in self.pairs.items()}

    def loss(self, batch: Batch, player: str) -> LossOutput:
        r_chosen = self.model(batch["chosen_ids"], batch["chosen_mask"])  # (B,)
        r_rejected = self.model(batch["rejected_ids"], batch["rejected_mask"])  # (B,)
        loss = bradley_terry_loss(r_chosen, r_rejected, margin=self.margin or None)
        return LossOutput(loss, {"accuracy": _accuracy(r_chosen.detach(), r_rejected.detach())})

    def eval_batches(self) -> Iterable[Batch]:
        return [self.held]

    def batch_tokens(self, batch: Batch) -> int:
        return int(batch["chosen_mask"].sum() + batch["rejected_mask"].sum())
