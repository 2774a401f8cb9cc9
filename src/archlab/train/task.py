"""The task: what a family gives the training loop.

A task owns the model and the data and knows how to turn a batch into losses; the loop owns everything
else (optimisers, schedule, clipping, mixed precision, data parallelism, evaluation, progress, metrics,
checkpoints, resume). The contract:

- ``model`` is the ``nn.Module`` that is trained, checkpointed and saved as the final model (a GAN puts
  its generator and discriminator in one module).
- ``players()`` names the parameter sets that are optimised separately, each with its own optimiser and its
  own loss, stepped in the order given at every training step. The common case is one player, ``"model"``,
  owning every parameter; a GAN has ``"discriminator"`` then ``"generator"``. Each ``Player`` may carry its
  own ``OptimConfig`` (optimiser, schedule, two time-scale learning rates) and ``steps_per_step``: a WGAN
  critic takes 5 updates per generator update.
- ``train_batch(step)`` returns the **global** batch of optimiser step ``step``: a pure function of the
  run's seed and ``step`` (never of what came before), so that resume replays the same data and every
  data-parallel rank computes the same batch and takes its slice. A player with ``steps_per_step = k > 1``
  takes its first update on that batch and its updates ``j = 1 .. k-1`` on ``train_batch(step, substep=j)``,
  a pure function of (seed, step, substep) too; tasks without such a player never receive ``substep``.
- ``batch_size(batch)`` and ``split(batch, parts)`` say how many items a batch has and cut it into
  ``parts`` pieces (for data-parallel ranks and accumulation micro-batches). The default is dimension 0
  of every tensor (a tensor, or a tuple / list / dict of tensors); a graph batch overrides them to split by
  its seed nodes, each piece keeping the whole graph. The loop looks both up on the class, so a task may
  keep its own batch size in an instance attribute ``batch_size``.
- ``loss(batch, player)`` returns that player's scalar loss: the **mean** over the items of ``batch``, or a
  ``LossOutput(loss, logs)`` whose ``logs`` are named scalars (a VAE's reconstruction and KL, a router's
  balancing loss) averaged like the loss and written to the metrics, TensorBoard and the progress line.
  The loop weights micro-batches by their size, so the gradient is that of the global-batch mean.
- ``after_step(step)`` runs once after optimiser step ``step`` (every player done) on every rank: the
  place for updates that are not gradient steps (a loss-free router's biases, annealed coefficients). The
  default calls ``after_optimizer_step()`` on every submodule of ``model`` that has one.
- ``eval_batches()`` yields the fixed evaluation set; ``evaluate(batch)`` returns named metrics, each a
  mean over the items of the batch (the loop averages them over batches and ranks, weighted by size).
- ``batch_tokens(batch)`` is what "tokens/s" counts (tokens for sequence models, items otherwise).
- ``state_dict()`` / ``load_state_dict()`` hold task state that is not a parameter (the hidden state an
  RNN carries across truncated-BPTT chunks) as named tensors; it is saved in every checkpoint.
- ``save_model(directory)`` writes the final model (``save_pretrained`` format when the model has it).

``Task`` is a base class with the defaults of the common case; a family overrides what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import torch
from safetensors.torch import save_model as save_safetensors_model
from torch import Tensor, nn

from archlab.train.config import OptimConfig

Batch = Union[Tensor, tuple, list, Mapping[str, Any]]


@dataclass
class Player:
    """A separately optimised part of the model: its name, the module holding its parameters, optionally its
    own optimiser settings (``None``: the run's ``optim`` section), and ``steps_per_step``, the number of
    updates it takes per optimiser step (each on its own batch: see the module docstring)."""

    name: str
    module: nn.Module
    optim: Optional[OptimConfig] = None
    steps_per_step: int = 1

    def __post_init__(self) -> None:
        if self.steps_per_step < 1:
            raise ValueError(f"steps_per_step={self.steps_per_step} of player {self.name!r} must be >= 1")


@dataclass
class LossOutput:
    """A player's loss (a scalar tensor, the mean over the batch) and named scalars to log beside it,
    each a mean over the batch too (tensors are detached by the loop; plain numbers are accepted)."""

    loss: Tensor
    logs: dict[str, Union[Tensor, float]] = field(default_factory=dict)


def as_loss_output(value: Union[Tensor, LossOutput]) -> LossOutput:
    """What ``Task.loss`` returned, as a ``LossOutput`` (a bare tensor logs nothing)."""
    return value if isinstance(value, LossOutput) else LossOutput(value)


def after_optimizer_step(model: nn.Module) -> None:
    """Call ``after_optimizer_step()`` on every submodule of ``model`` that defines it, in module order.

    The model-level hook of ``Task.after_step``: a layer that updates itself outside the gradient step (a
    loss-free router's biases) exposes that method, and every task and hand-written loop reaches it alike.
    """
    for module in model.modules():
        hook = getattr(module, "after_optimizer_step", None)
        if callable(hook):
            hook()


class Task:
    """Base class of training tasks; see the module docstring for the contract."""

    model: nn.Module

    def players(self) -> list[Player]:
        return [Player("model", self.model)]

    def train_batch(self, step: int, substep: int = 0) -> Batch:
        raise NotImplementedError

    def batch_size(self, batch: Batch) -> int:
        return batch_size(batch)

    def split(self, batch: Batch, parts: int) -> list[Batch]:
        return split_batch(batch, parts)

    def loss(self, batch: Batch, player: str) -> Union[Tensor, LossOutput]:
        raise NotImplementedError

    def after_step(self, step: int) -> None:
        after_optimizer_step(self.model)

    def eval_batches(self) -> Iterable[Batch]:
        return ()

    def evaluate(self, batch: Batch) -> dict[str, Tensor]:
        """``val_loss`` (``val_loss_<player>`` with several players) and each logged scalar as ``val_<name>``."""
        metrics: dict[str, Tensor] = {}
        players = self.players()
        for p in players:
            suffix = f"_{p.name}" if len(players) > 1 else ""
            out = as_loss_output(self.loss(batch, p.name))
            metrics[f"val_loss{suffix}"] = out.loss
            metrics.update({f"val_{k}{suffix}": torch.as_tensor(v) for k, v in out.logs.items()})
        return metrics

    def batch_tokens(self, batch: Batch) -> int:
        return type(self).batch_size(self, batch)

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

