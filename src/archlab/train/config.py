"""The configs of a training run: optimiser, loop, and the run that holds them beside a model and data.

Every config is a dataclass validated in ``__post_init__``; a bad value raises ``ValueError`` naming the
field, the value and the rule (``lr=-1.0 must be > 0``). ``RunConfig`` is the whole of a run: its
``model`` and ``data`` sections are the family's own dataclasses, ``optim`` and ``train`` are the loop's.
``archlab.train.overrides.apply_overrides`` edits any of them with dotted ``section.field=value`` keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Literal

from archlab.core.validation import check_at_least, check_divisible, check_positive

Precision = Literal["auto", "fp32", "bf16"]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass
class OptimConfig:
    """AdamW with linear warmup then cosine decay to ``min_lr_ratio * lr``, and gradient-norm clipping.

    ``weight_decay`` applies to matrices only; norms, biases and embeddings are not decayed
    (``archlab.train.optim.param_groups``). ``grad_clip=0`` turns clipping off.
    """

    lr: float = 3e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self, "lr")
        check_at_least(self, 0, "weight_decay")
        self.betas = tuple(float(b) for b in self.betas)
        _check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            f"betas={self.betas} must be two numbers in [0, 1)",
        )
        check_positive(self, "eps")
        check_at_least(self, 0, "warmup_steps")
        _check(0 <= self.min_lr_ratio <= 1, f"min_lr_ratio={self.min_lr_ratio} must be in [0, 1]")
        check_at_least(self, 0, "grad_clip", note="(0 turns clipping off)")


@dataclass
class TrainConfig:
    """The loop: how long, how big a batch, how often to evaluate, log and checkpoint, on what device.

    ``batch_size`` is the global batch of one optimiser step (over all processes and accumulation
    micro-batches); it must divide evenly by ``grad_accum`` times the number of processes. ``context``
    is the sequence length of sequence tasks. ``eval_every``, ``checkpoint_every`` and ``log_every``
    count optimiser steps; 0 turns the periodic action off (the final evaluation and model still happen).
    ``precision="auto"`` is bf16 autocast on a GPU that supports it, fp32 elsewhere.
    """

    steps: int = 1000
    batch_size: int = 16
    grad_accum: int = 1
    context: int = 128
    eval_every: int = 200
    eval_batches: int = 8
    checkpoint_every: int = 200
    log_every: int = 10
    precision: Precision = "auto"
    device: str = "auto"
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        check_at_least(self, 1, "steps", "batch_size", "grad_accum")
        check_divisible(self, "batch_size", "grad_accum")
        check_at_least(self, 1, "context")
        check_at_least(self, 0, "eval_every", "checkpoint_every", "log_every", note="(0 turns it off)")
        check_at_least(self, 1, "eval_batches")
        _check(
            self.precision in ("auto", "fp32", "bf16"),
            f"precision={self.precision!r} must be one of 'auto', 'fp32', 'bf16'",
        )
        _check(
            self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
            f"device={self.device!r} must be 'auto', 'cpu' or 'cuda[:N]'",
        )


@dataclass
class RunConfig:
    """One training run: the family's ``model`` and ``data`` configs beside the loop's ``optim`` and ``train``."""

    model: Any
    data: Any = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check(is_dataclass(self.model), f"model={type(self.model).__name__} must be a config dataclass")
        _check(
            self.data is None or is_dataclass(self.data),
            f"data={type(self.data).__name__} must be a config dataclass or None",
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form written beside checkpoints (``run_config.json``)."""
        return {name: (asdict(value) if is_dataclass(value) else value) for name, value in vars(self).items()}
