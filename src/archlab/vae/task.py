"""The VAE's training task for the one loop: batches drawn from a fixed dataset, the ELBO's terms logged.

The batch of step ``s`` is ``batch_size`` items drawn with replacement from the training tensor with
``step_generator(seed, "train", s)`` (``archlab.data.streams``), so it is a pure function of the seed and the
step, and it sets the KL weight of the annealing schedule for that step (so a resumed run anneals alike).
``loss`` logs the reconstruction term, the KL, the KL weight and the number of active units of the batch
(Burda et al. 2016).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor

from archlab.data.streams import step_generator
from archlab.train.task import LossOutput, Task
from archlab.vae.model import VAE
from archlab.vae.objectives import active_units, kl_anneal_weight


class VAETask(Task):
    """Train ``model`` on ``train_data`` (N, *data_shape); ``eval_data`` is the held-out set, evaluated in
    pieces of ``eval_batch_size``."""

    def __init__(self, model: VAE, train_data: Tensor, eval_data: Tensor, *, batch_size: int, seed: int,
                 eval_batch_size: int = 256) -> None:
        if train_data.shape[1:] != model.config.data_shape:
            raise ValueError(f"train_data items have shape {tuple(train_data.shape[1:])}, the model expects "
                             f"data_shape={model.config.data_shape}")
        self.model, self.train_data, self.eval_data = model, train_data, eval_data
        self.batch_size, self.seed, self.eval_batch_size = batch_size, seed, eval_batch_size
        self.kl_weight = kl_anneal_weight(0, model.config.kl_anneal_steps)

    def train_batch(self, step: int, substep: int = 0) -> Tensor:
        index = torch.randint(0, self.train_data.shape[0], (self.batch_size,),
                              generator=step_generator(self.seed, "train", step))
        self.kl_weight = kl_anneal_weight(step, self.model.config.kl_anneal_steps)
        return self.train_data[index]

    def loss(self, batch: Tensor, player: str) -> LossOutput:
        out = self.model.loss(batch, kl_weight=self.kl_weight)
        logs = {"reconstruction": out.reconstruction, "kl": out.kl, "kl_weight": self.kl_weight}
        if batch.shape[0] > 1:
            logs["active_units"] = float(active_units(out.mean.detach()))
        return LossOutput(out.loss, logs)

    def eval_batches(self) -> Iterable[Tensor]:
        return list(self.eval_data.split(self.eval_batch_size))

    def evaluate(self, batch: Tensor) -> dict[str, Tensor]:
        out = self.model.loss(batch)
        return {"val_loss": out.loss, "val_reconstruction": out.reconstruction, "val_kl": out.kl,
                "val_elbo": out.elbo}
