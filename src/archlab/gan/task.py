"""The GAN's training task for the one loop: two players, the discriminator first, then the generator.

``players()`` gives the discriminator ``n_critic`` updates per step and the generator one, each with its own
optimiser settings (``OptimConfig``; None: the run's ``optim`` section), so two time-scale learning rates and
WGAN-GP's Adam(1e-4, betas (0, 0.9)) are plain settings, not special cases of the loop. The batch of step s
(update j of the discriminator: substep j) is drawn from ``step_generator(seed, "train", s)`` (stream
``"critic-j"`` for j > 0): the real items, the noise z and the gradient penalty's mixing weights, so every
draw is a pure function of the seed, the step and the substep. The loss logs D(x) (``d_real``), D(G(z))
(``d_fake``) and the gradient penalty.

The generator's moving average (Karras et al. 2018) is the loop's ``train.ema_decay``: it averages the whole
model, and the generator inside ``OUT/final/ema/`` is the averaged generator (the averaged discriminator
beside it is unused).
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import torch
from torch import Tensor

from archlab.data.streams import step_generator
from archlab.gan.model import GAN
from archlab.train.config import OptimConfig
from archlab.train.task import LossOutput, Player, Task

# Draw ``n`` real items with a generator: (n, *data_shape).
RealSampler = Callable[[int, torch.Generator], Tensor]


class GANTask(Task):
    """Train ``model`` on items from ``real_sampler``; ``eval_size`` items of the ``"eval"`` stream are the
    held-out set (D's losses on it)."""

    def __init__(self, model: GAN, real_sampler: RealSampler, *, batch_size: int, seed: int,
                 discriminator_optim: Optional[OptimConfig] = None, generator_optim: Optional[OptimConfig] = None,
                 eval_size: int = 512) -> None:
        if batch_size % model.config.pack:
            raise ValueError(f"batch_size={batch_size} must be divisible by pack={model.config.pack}")
        self.model, self.real_sampler = model, real_sampler
        self.batch_size, self.seed, self.eval_size = batch_size, seed, eval_size
        self.discriminator_optim, self.generator_optim = discriminator_optim, generator_optim

    def players(self) -> list[Player]:
        return [Player("discriminator", self.model.discriminator, self.discriminator_optim,
                       steps_per_step=self.model.config.n_critic),
                Player("generator", self.model.generator, self.generator_optim)]

    def draw(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """A batch of ``n`` items: ``real`` (n, ...), ``noise`` (n, Z), ``mix`` (n,)."""
        return {"real": self.real_sampler(n, generator),
                "noise": torch.randn(n, self.model.config.latent_dim, generator=generator),
                "mix": torch.rand(n, generator=generator)}

    def train_batch(self, step: int, substep: int = 0) -> dict[str, Tensor]:
        stream = "train" if substep == 0 else f"critic-{substep}"
        return self.draw(self.batch_size, step_generator(self.seed, stream, step))

    def split(self, batch: dict[str, Tensor], parts: int) -> list[dict[str, Tensor]]:
        """Pieces of whole packs: a pack never straddles two micro-batches."""
        pack = self.model.config.pack
        n = batch["noise"].shape[0] // pack
        bounds = [-(-i * n // parts) * pack for i in range(parts + 1)]  # pack boundaries
        return [{k: v[a:b] for k, v in batch.items()} for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def loss(self, batch: dict[str, Tensor], player: str) -> LossOutput:
        out = self.model.loss(batch, player)
        logs = {"d_fake": out.d_fake}
        if out.d_real is not None:
            logs["d_real"] = out.d_real
        if out.gradient_penalty is not None:
            logs["gradient_penalty"] = out.gradient_penalty
        return LossOutput(out.loss, logs)

    def eval_batches(self) -> Iterable[dict[str, Tensor]]:
        return [self.draw(self.eval_size - self.eval_size % self.model.config.pack,
                          step_generator(self.seed, "eval", 0))]

    def evaluate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        with torch.enable_grad():  # the gradient penalty differentiates the critic
            d = self.model.loss(batch, "discriminator")
        g = self.model.loss(batch, "generator")
        metrics = {"val_loss_discriminator": d.loss.detach(), "val_loss_generator": g.loss.detach(),
                   "val_d_real": d.d_real, "val_d_fake": d.d_fake}
        if d.gradient_penalty is not None:
            metrics["val_gradient_penalty"] = d.gradient_penalty
        return metrics
