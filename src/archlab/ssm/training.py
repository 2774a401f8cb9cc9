"""Training small sequence models on synthetic tasks, for the SSM family's trained claims.

``SyntheticTask`` runs a task generator of ``archlab.data.synthetic`` through the one training loop
(``archlab.train.fit``); ``accuracy`` scores token accuracy at the labelled positions of a fixed test set;
``mamba_model``, ``hybrid_model`` and ``attention_model`` build the compared models; ``LTIStack`` is the
linear time-invariant baseline (S4D layers, Gu et al. 2022) of the same size as a Mamba stack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archlab.core.block import Block
from archlab.core.lm import next_token_loss
from archlab.core.norm import RMSNorm
from archlab.core.outputs import LMOutput
from archlab.data.streams import step_generator
from archlab.lab.experiment import SampledTask, quick_fit
from archlab.ssm.s4d import S4D
from archlab.ssm.lm import MambaLM, MambaLMConfig, interleaved_layers

logger = logging.getLogger(__name__)

Sampler = Callable[[int, torch.Generator], tuple[Tensor, Tensor]]


class SyntheticTask(SampledTask):
    """Next-token prediction on a synthetic task (``archlab.lab.experiment.SampledTask``: the batch of step
    ``s`` from the ``"train"`` stream, a held-out set from the ``"eval"`` stream); the loss is the model's
    cross-entropy at the labelled positions. With a ``curriculum`` ``(easy, n)``, the batches of the first
    ``n`` steps are drawn from ``easy`` instead (same stream); the held-out set is always the task's own."""

    def __init__(self, model: nn.Module, sample: Sampler, *, batch_size: int, seed: int, eval_size: int = 256,
                 curriculum: tuple[Sampler, int] | None = None):
        super().__init__(batch_size=batch_size, seed=seed, eval_size=eval_size)
        self.model, self._sample = model, sample
        self._easy, self._easy_steps = curriculum if curriculum is not None else (sample, 0)

    def sample(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self._sample(size, generator)

    def train_batch(self, step: int, substep: int = 0) -> tuple[Tensor, Tensor]:
        if step < self._easy_steps and not substep:
            return self._easy(self.batch_size, step_generator(self.seed, "train", step))
        return super().train_batch(step, substep)

    def loss(self, batch: tuple[Tensor, Tensor], player: str) -> Tensor:
        inputs, labels = batch
        return self.model(inputs, labels=labels).loss

    def evaluate(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        inputs, labels = batch
        return {"val_loss": self.loss(batch, "model"), "val_acc": torch.tensor(accuracy(self.model, inputs, labels))}

    def batch_tokens(self, batch: tuple[Tensor, Tensor]) -> int:
        return batch[0].numel()


@torch.no_grad()
def accuracy(model: nn.Module, inputs: Tensor, labels: Tensor, *, batch_size: int = 256) -> float:
    """Share of labelled positions (``labels != -100``) where the argmax of the logits is the label."""
    was_training = model.training
    model.eval()
    hits, total = 0, 0
    for start in range(0, inputs.shape[0], batch_size):
        x, y = inputs[start:start + batch_size], labels[start:start + batch_size]
        keep = y != -100
        hits += int((model(x).logits.argmax(-1) == y)[keep].sum())
        total += int(keep.sum())
    model.train(was_training)
    return hits / max(total, 1)


@dataclass
class Budget:
    """Optimiser steps, batch size, learning rate and linear warm-up steps (``None``: a twentieth of the steps)
    of one training run."""

    steps: int
    batch_size: int
    lr: float
    warmup_steps: int | None = None


def train(model: nn.Module, sample: Sampler, budget: Budget, *, seed: int,
          curriculum: tuple[Sampler, int] | None = None) -> list[dict]:
    """Train ``model`` on ``sample`` (the first steps on an easier ``curriculum`` sampler, when given) with AdamW
    (no weight decay), short warm-up, cosine decay; return the history (its last record holds ``val_loss`` and
    ``val_acc`` on the task's held-out set)."""
    task = SyntheticTask(model, sample, batch_size=budget.batch_size, seed=seed, curriculum=curriculum)
    warmup = max(1, budget.steps // 20) if budget.warmup_steps is None else budget.warmup_steps
    return quick_fit(task, steps=budget.steps, lr=budget.lr, batch_size=budget.batch_size, seed=seed,
                     warmup_steps=warmup, log_every=max(1, budget.steps // 10)).history


def mamba_model(seed: int, *, n_layers: int, **kw) -> MambaLM:
    """``n_layers`` Mamba layers."""
    torch.manual_seed(seed)
    return MambaLM(MambaLMConfig(layers=("mamba",) * n_layers, **kw))


def hybrid_model(seed: int, *, n_layers: int, attn_every: int, attn_offset: int, **kw) -> MambaLM:
    """Mamba with attention at layer ``i`` when ``i % attn_every == attn_offset``."""
    torch.manual_seed(seed)
    layers = interleaved_layers(n_layers, attention_every=attn_every, attention_offset=attn_offset)
    return MambaLM(MambaLMConfig(layers=layers, **kw))


def attention_model(seed: int, *, position: str, n_layers: int = 2, **kw) -> MambaLM:
    """An all-attention stack (every layer attention, no MLP)."""
    return hybrid_model(seed, n_layers=n_layers, attn_every=1, attn_offset=0, mlp="none", position=position, **kw)


# ----------------------------------------------------------------------------------------------- selective copying


@dataclass
class LTIStackConfig:
    """An LTI language model: ``n_layers`` pre-norm blocks around ``S4D`` (S4D-Lin), GELU and a GLU output."""

    vocab_size: int
    d_model: int
    n_layers: int
    d_state: int


class _S4DMixer(nn.Module):
    """The S4D reference layer (Gu et al. 2022, ``models/s4/s4d.py``): SSM, GELU, linear to 2H, GLU."""

    def __init__(self, *, d_model: int, d_state: int) -> None:
        super().__init__()
        self.ssm = S4D(d_model=d_model, d_state=d_state, init="lin")
        self.out = nn.Linear(d_model, 2 * d_model)

    def forward(self, x: Tensor) -> Tensor:
        return F.glu(self.out(F.gelu(self.ssm(x))), dim=-1)  # (B, L, H) -> (B, L, 2H) -> (B, L, H)


class LTIStack(nn.Module):
    """Token embedding, S4D blocks, RMSNorm, tied head: the time-invariant baseline of selective copying."""

    def __init__(self, config: LTIStackConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        self.blocks = nn.ModuleList(
            Block(d_model=c.d_model, mixer=_S4DMixer(d_model=c.d_model, d_state=c.d_state), feed_forward=None,
                  norm="rmsnorm") for _ in range(c.n_layers))
        self.norm_f = RMSNorm(c.d_model)

    def forward(self, input_ids: Tensor, labels: Tensor | None = None) -> LMOutput:
        h = self.embedding(input_ids)  # (B, L, D)
        for block in self.blocks:
            h = block(h)
        logits = self.norm_f(h) @ self.embedding.weight.T  # (B, L, V)
        loss = None if labels is None else next_token_loss(logits, labels)
        return LMOutput(logits=logits, loss=loss)
