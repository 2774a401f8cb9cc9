"""Tiny tasks for the training-loop tests: a one-player regression with dropout (plain, counting, logging), a
two-player game, and a graph batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.task import LossOutput, Player, Task, split_batch


class SimulatedKill(BaseException):
    """Stands for a SIGKILL in the in-process tests (the subprocess tests use a real one)."""


@dataclass
class ToyConfig:
    vocab: int = 16
    dim: int = 8


class ToyModel(nn.Module):
    """Embedding -> mean -> LayerNorm -> dropout -> Linear: every kind of parameter group, and RNG use."""

    def __init__(self, vocab: int = 16, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.norm = nn.LayerNorm(dim)
        self.hidden = nn.Linear(dim, dim)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(dim, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.embed(ids).mean(dim=1))  # (B, L, D) -> (B, D)
        return self.head(self.drop(torch.tanh(self.hidden(h)))).squeeze(-1)  # (B,)


class ToyTask(Task):
    """Regress the mean token id (scaled) of 4 random tokens; the batch of step s is a function of (seed, s)."""

    def __init__(self, *, batch_size: int = 8, seed: int = 0, nan_at_step: int | None = None,
                 crash_at_step: int | None = None) -> None:
        self.model = ToyModel()
        self.batch_size, self.seed, self.nan_at_step, self.crash_at_step = batch_size, seed, nan_at_step, crash_at_step
        self.steps_seen = torch.zeros((), dtype=torch.long)

    def _batch(self, key: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(key)
        ids = torch.randint(0, 16, (self.batch_size, 4), generator=g)  # (B, 4)
        return ids, ids.float().mean(dim=1) / 8 - 1  # (B,)

    def train_batch(self, step: int):
        if self.crash_at_step is not None and step + 1 == self.crash_at_step:
            raise SimulatedKill(f"killed at step {step + 1}")
        ids, target = self._batch(1000 * self.seed + step)
        if self.nan_at_step is not None and step + 1 >= self.nan_at_step:
            target = target * float("nan")
        return ids, target

    def eval_batches(self):
        return [self._batch(-1 - i) for i in range(2)]

    def loss(self, batch, player: str) -> torch.Tensor:
        ids, target = batch
        return ((self.model(ids) - target) ** 2).mean()



class CountingToyTask(ToyTask):
    """ToyTask whose ``steps_seen`` task state advances once per training batch (checkpointed state)."""

    def train_batch(self, step: int):
        self.steps_seen += 1
        return super().train_batch(step)

    def state_dict(self):
        return {"steps_seen": self.steps_seen.clone()}

    def load_state_dict(self, state) -> None:
        self.steps_seen = state["steps_seen"].clone()


class GameModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Linear(2, 2)
        self.discriminator = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))


class TwoPlayerTask(Task):
    """A tiny GAN: the generator maps noise to points, the discriminator tells them from N(3, 1) samples."""

    def __init__(self, seed: int = 0) -> None:
        self.model = GameModel()
        self.seed = seed

    def players(self):
        return [Player("discriminator", self.model.discriminator, OptimConfig(lr=1e-2, warmup_steps=0)),
                Player("generator", self.model.generator, OptimConfig(lr=5e-3, warmup_steps=0))]

    def train_batch(self, step: int):
        g = torch.Generator().manual_seed(self.seed * 1000 + step)
        return {"noise": torch.randn(8, 2, generator=g), "real": torch.randn(8, 2, generator=g) + 3}

    def loss(self, batch, player: str) -> torch.Tensor:
        fake = self.model.generator(batch["noise"])
        bce = nn.functional.binary_cross_entropy_with_logits
        if player == "discriminator":
            real_logits = self.model.discriminator(batch["real"])
            fake_logits = self.model.discriminator(fake.detach())
            return bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
        fake_logits = self.model.discriminator(fake)
        return bce(fake_logits, torch.ones_like(fake_logits))


def toy_config(**train) -> RunConfig:
    values = dict(steps=6, batch_size=8, eval_every=0, checkpoint_every=0, log_every=1, progress=False,
                  device="cpu")
    return RunConfig(model=ToyConfig(), optim=OptimConfig(lr=1e-2, warmup_steps=2, weight_decay=0.1),
                     train=TrainConfig(**{**values, **train}))


def make_toy(seed: int = 0, task_class=ToyTask, *, init_seed: int | None = None, **kwargs) -> Task:
    """A toy task whose data follow ``seed`` and whose initial weights follow ``init_seed`` (default: seed)."""
    torch.manual_seed(seed if init_seed is None else init_seed)
    return task_class(seed=seed, **kwargs)


def params_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class LoggingToyTask(ToyTask):
    """ToyTask whose loss is a ``LossOutput`` logging two batch means, and which records the order of the
    loop's calls (``loss`` per micro-batch and player, ``after_step`` per step) in ``events``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.events: list[tuple] = []

    def loss(self, batch, player: str) -> LossOutput:
        ids, target = batch
        self.events.append(("loss", player, ids.shape[0]))
        error = self.model(ids) - target
        return LossOutput(error.pow(2).mean(), {"mean_target": target.mean(), "abs_error": error.detach().abs().mean().item()})

    def after_step(self, step: int) -> None:
        self.events.append(("after_step", step))
        super().after_step(step)



class GraphModel(nn.Module):
    """One round of mean aggregation over in-edges, then a linear read-out per node."""

    def __init__(self, features: int = 4) -> None:
        super().__init__()
        self.message = nn.Linear(features, 8)
        self.update = nn.Linear(features + 8, 1)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        source, target = edge_index  # (E,) each
        summed = torch.zeros(x.shape[0], 8).index_add_(0, target, torch.tanh(self.message(x))[source])  # (N, 8)
        degree = torch.bincount(target, minlength=x.shape[0]).clamp_min(1).unsqueeze(-1)  # (N, 1)
        return self.update(torch.cat([x, summed / degree], dim=-1)).squeeze(-1)  # (N,)


class GraphTask(Task):
    """Node regression on one random graph: the batch of step s is the whole graph (node features ``x`` (N, F),
    ``edge_index`` (2, E), targets ``y`` (N,)) and the step's seed nodes ``seeds`` (S,); the loss is the mean
    over the seeds. ``batch_size`` counts seeds; ``split`` cuts the seeds, every piece keeps the whole graph."""

    def __init__(self, *, seed: int = 0, nodes: int = 30, edges: int = 90, seeds_per_step: int = 10) -> None:
        self.model = GraphModel()
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(nodes, 4, generator=g)
        self.edge_index = torch.randint(0, nodes, (2, edges), generator=g)
        self.y = torch.sin(self.x.sum(-1))
        self.seed, self.nodes, self.seeds_per_step = seed, nodes, seeds_per_step

    def train_batch(self, step: int, substep: int = 0) -> dict:
        g = torch.Generator().manual_seed(1000 * self.seed + step)
        seeds = torch.randperm(self.nodes, generator=g)[: self.seeds_per_step]
        return {"x": self.x, "edge_index": self.edge_index, "y": self.y, "seeds": seeds}

    def batch_size(self, batch: dict) -> int:
        return batch["seeds"].shape[0]

    def split(self, batch: dict, parts: int) -> list[dict]:
        return [{**batch, "seeds": piece} for piece in split_batch(batch["seeds"], parts)]

    def loss(self, batch: dict, player: str) -> torch.Tensor:
        seeds = batch["seeds"]
        return (self.model(batch["x"], batch["edge_index"])[seeds] - batch["y"][seeds]).pow(2).mean()


class CriticTask(TwoPlayerTask):
    """TwoPlayerTask as a WGAN: the critic (SGD, Nesterov momentum, linear decay) takes 3 updates per
    generator update (Adam, constant rate), each on the batch of (seed, step, substep); ``calls`` records them."""

    def __init__(self, seed: int = 0, crash_at_step: int | None = None) -> None:
        super().__init__(seed)
        self.crash_at_step = crash_at_step
        self.calls: list[tuple[int, int]] = []

    def players(self):
        return [Player("discriminator", self.model.discriminator,
                       OptimConfig(name="sgd", lr=5e-2, momentum=0.9, nesterov=True, schedule="linear",
                                   warmup_steps=0, weight_decay=0.0), steps_per_step=3),
                Player("generator", self.model.generator,
                       OptimConfig(name="adam", lr=5e-3, schedule="constant", warmup_steps=1))]

    def train_batch(self, step: int, substep: int = 0):
        if self.crash_at_step is not None and step + 1 == self.crash_at_step:
            raise SimulatedKill(f"killed at step {step + 1}")
        self.calls.append((step, substep))
        g = torch.Generator().manual_seed(self.seed * 100_000 + step * 10 + substep)
        return {"noise": torch.randn(8, 2, generator=g), "real": torch.randn(8, 2, generator=g) + 3}

    def loss(self, batch, player: str) -> torch.Tensor:
        fake = self.model.generator(batch["noise"])
        if player == "discriminator":
            return self.model.discriminator(fake.detach()).mean() - self.model.discriminator(batch["real"]).mean()
        return -self.model.discriminator(fake).mean()
