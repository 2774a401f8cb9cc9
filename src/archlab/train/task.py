"""The task: what a family gives the training loop.

A task owns the model and the data and knows how to turn a batch into losses; the loop owns everything
else (optimisers, schedule, clipping, mixed precision, data parallelism, evaluation, progress, metrics,
checkpoints, resume). The contract:

- ``model`` is the ``nn.Module`` that is trained, checkpointed and saved as the final model (a GAN puts
  its generator and discriminator in one module).
- ``players()`` names the parameter sets that are optimised separately, each with its own AdamW and its own
  loss, stepped in the order given at every training step. The common case is one player, ``"model"``,
  owning every parameter; a GAN has ``"discriminator"`` then ``"generator"``, each ``Player`` may carry
  its own ``OptimConfig`` (two time-scale learning rates).
- ``train_batch(step)`` returns the **global** batch of optimiser step ``step``: a pure function of the
  run's seed and ``step`` (never of what came before), so that resume replays the same data and every
  data-parallel rank computes the same batch and takes its slice. A batch is a tensor, or a tuple / list /
  dict of tensors, all with the batch on dimension 0; the loop slices it for ranks and accumulation steps.
- ``loss(batch, player)`` returns that player's scalar loss: the **mean** over the items of ``batch``.
  The loop weights micro-batches by their size, so the gradient is that of the global-batch mean.
- ``eval_batches()`` yields the fixed evaluation set; ``evaluate(batch)`` returns named metrics, each a
  mean over the items of the batch (the loop averages them over batches and ranks, weighted by size).
- ``batch_tokens(batch)`` is what "tokens/s" counts (tokens for sequence models, items otherwise).
- ``state_dict()`` / ``load_state_dict()`` hold task state that is not a parameter (the hidden state an
  RNN carries across truncated-BPTT chunks) as named tensors; it is saved in every checkpoint.
- ``save_model(directory)`` writes the final model (``save_pretrained`` format when the model has it).

``Task`` is a base class with the defaults of the common case; a family overrides what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from safetensors.torch import save_model as save_safetensors_model
from torch import Tensor, nn

from archlab.train.config import OptimConfig

Batch = Union[Tensor, tuple, list, Mapping[str, Any]]


@dataclass
class Player:
    """A separately optimised part of the model: its name, the module holding its parameters, and
    optionally its own optimiser settings (``None``: the run's ``optim`` section)."""

    name: str
    module: nn.Module
    optim: Optional[OptimConfig] = None


class Task:
    """Base class of training tasks; see the module docstring for the contract."""

    model: nn.Module

    def players(self) -> list[Player]:
        return [Player("model", self.model)]

    def train_batch(self, step: int) -> Batch:
        raise NotImplementedError

    def loss(self, batch: Batch, player: str) -> Tensor:
        raise NotImplementedError

    def eval_batches(self) -> Iterable[Batch]:
        return ()

    def evaluate(self, batch: Batch) -> dict[str, Tensor]:
        return {f"val_loss_{p.name}" if len(self.players()) > 1 else "val_loss": self.loss(batch, p.name)
                for p in self.players()}

    def batch_tokens(self, batch: Batch) -> int:
        return batch_size(batch)

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no task state, but the checkpoint holds {sorted(state)}")

    def save_model(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if hasattr(self.model, "save_pretrained"):
            self.model.save_pretrained(directory)
        else:
            save_safetensors_model(self.model, str(directory / "model.safetensors"))


def _leaves(batch: Batch) -> list[Tensor]:
    if isinstance(batch, Tensor):
        return [batch]
    if isinstance(batch, Mapping):
        return [t for v in batch.values() for t in _leaves(v)]
    if isinstance(batch, (tuple, list)):
        return [t for v in batch for t in _leaves(v)]
    return []


def batch_size(batch: Batch) -> int:
    """The number of items in ``batch``: dimension 0 of its tensors, which must all agree."""
    sizes = {t.shape[0] for t in _leaves(batch) if t.dim() > 0}
    if len(sizes) != 1:
        raise ValueError(f"a batch needs tensors that agree on dimension 0 (the batch); got sizes {sorted(sizes)}")
    return sizes.pop()


def map_batch(batch: Batch, fn) -> Batch:
    """Apply ``fn`` to every tensor of ``batch``, keeping its structure (tuples, lists, dicts)."""
    if isinstance(batch, Tensor):
        return fn(batch)
    if isinstance(batch, Mapping):
        return {k: map_batch(v, fn) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(map_batch(v, fn) for v in batch)
    if isinstance(batch, list):
        return [map_batch(v, fn) for v in batch]
    return batch


def split_batch(batch: Batch, parts: int) -> list[Batch]:
    """``batch`` cut along dimension 0 into ``parts`` contiguous pieces, the first ones at most one item
    longer than the last ones (empty pieces are dropped)."""
    n = batch_size(batch)
    bounds = [-(-i * n // parts) for i in range(parts + 1)]  # ceil(i * n / parts)
    return [
        map_batch(batch, lambda t, a=a, b=b: t[a:b] if t.dim() > 0 else t)
        for a, b in zip(bounds[:-1], bounds[1:])
        if b > a
    ]


def shard_batch(batch: Batch, rank: int, world_size: int) -> Batch | None:
    """Rank ``rank``'s contiguous slice of the global ``batch`` (None when it gets no items).

    Slices are ``split_batch``'s pieces: rank 0 gets the first, so it has items whenever the batch does.
    """
    n = batch_size(batch)
    a, b = -(-rank * n // world_size), -(-(rank + 1) * n // world_size)
    if b <= a:
        return None
    return map_batch(batch, lambda t: t[a:b] if t.dim() > 0 else t)
