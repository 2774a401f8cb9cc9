"""Claim experiments that train: a task drawn from named per-step data streams, and a quiet ``fit``.

``SampledTask`` is the base of every synthetic training task of the claims. A subclass says how to draw
``size`` examples from a generator (``sample``) and what its loss is; the batch of training step ``s`` is
``sample(batch_size, step_generator(seed, "train", s))`` and the held-out set is one draw of ``eval_size``
examples from ``step_generator(seed, "eval", 0)`` (``archlab.data.streams``), so training batches and the
held-out set never share draws and both are pure functions of the seed.

``quick_fit`` trains a task through the one loop (``archlab.train.fit``) with the settings a claim needs and
nothing else: no progress bar, no output folder, no checkpoints, the final evaluation only unless asked. It
returns the loop's ``FitResult`` (``history`` holds the logged training losses and the evaluations).
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch

from archlab.data.streams import step_generator
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.loop import FitResult, fit
from archlab.train.task import Batch, Task


class SampledTask(Task):
    """A task whose batches are drawn per step from the ``"train"`` stream and whose held-out set is one
    draw from the ``"eval"`` stream of ``seed``. Subclasses set ``model`` and define ``sample`` and ``loss``."""

    def __init__(self, *, batch_size: int, seed: int, eval_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        if eval_size < 1:
            raise ValueError(f"eval_size={eval_size} must be >= 1")
        self.batch_size, self.seed, self.eval_size = batch_size, seed, eval_size
        self._held_out: Optional[Batch] = None

    def sample(self, size: int, generator: torch.Generator) -> Batch:
        """``size`` examples drawn with ``generator`` (and nothing else random)."""
        raise NotImplementedError

    def train_batch(self, step: int, substep: int = 0) -> Batch:
        if substep:
            raise ValueError(f"substep={substep}: {type(self).__name__} has one update per step")
        return self.sample(self.batch_size, step_generator(self.seed, "train", step))

    def held_out(self) -> Batch:
        """The fixed held-out set (drawn once, then kept)."""
        if self._held_out is None:
            self._held_out = self.sample(self.eval_size, step_generator(self.seed, "eval", 0))
        return self._held_out

    def eval_batches(self) -> Iterable[Batch]:
        return [self.held_out()]


def quick_fit(
    task: Task,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.95),
    warmup_steps: int = 0,
    min_lr_ratio: float = 0.1,
    grad_clip: float = 1.0,
    eval_every: int = 0,
    eval_batches: int = 1,
    log_every: int = 0,
    device: str = "cpu",
    precision: str = "fp32",
) -> FitResult:
    """Train ``task`` on ``device`` for ``steps`` AdamW steps (linear warm-up, cosine decay to
    ``min_lr_ratio * lr``), quietly, and return the ``FitResult``. ``eval_every=0`` evaluates once at the end;
    ``log_every=0`` logs no training losses. Float32 unless ``precision`` says otherwise: a claim's numbers do
    not depend on whether the CPU has bf16 units (where ``"auto"`` would pick bf16)."""
    config = RunConfig(
        model=None,
        optim=OptimConfig(lr=lr, weight_decay=weight_decay, betas=betas, warmup_steps=warmup_steps,
                          min_lr_ratio=min_lr_ratio, grad_clip=grad_clip),
        train=TrainConfig(steps=steps, batch_size=batch_size, eval_every=eval_every, eval_batches=eval_batches,
                          checkpoint_every=0, log_every=log_every, precision=precision, device=device, seed=seed,
                          progress=False),
    )
    return fit(task, config)
