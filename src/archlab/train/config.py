"""The configs of a training run: optimiser, loop, and the run that holds them beside a model and data.

Every config is a dataclass validated in ``__post_init__``; a bad value raises ``ValueError`` naming the
field, the value and the rule (``lr=-1.0 must be > 0``). ``RunConfig`` is the whole of a run: its
``model`` and ``data`` sections are the family's own dataclasses, ``optim`` and ``train`` are the loop's.
``archlab.train.overrides.apply_overrides`` edits any of them with dotted ``section.field=value`` keys.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, ClassVar, Literal, Mapping

from archlab.core.validation import check_at_least, check_divisible, check_positive

Precision = Literal["auto", "fp32", "bf16"]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


OptimizerName = Literal["adamw", "adam", "sgd"]
Schedule = Literal["cosine", "constant", "linear"]


@dataclass
class OptimConfig:
    """The optimiser ``name`` (``"adamw" | "adam" | "sgd"``), its learning-rate ``schedule`` (linear warmup
    over ``warmup_steps``, then ``"cosine"`` or ``"linear"`` decay to ``min_lr_ratio * lr``, or
    ``"constant"``), and gradient-norm clipping (``archlab.train.optim``).

    ``weight_decay`` applies to matrices only; norms, biases and embeddings are not decayed
    (``archlab.train.optim.param_groups``): decoupled for AdamW, an L2 term in the gradient for Adam and SGD.
    ``betas`` and ``eps`` are Adam's; ``momentum`` and ``nesterov`` are SGD's. ``grad_clip=0`` turns
    clipping off.
    """

    lr: float = 3e-4
    name: OptimizerName = "adamw"
    schedule: Schedule = "cosine"
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    momentum: float = 0.0
    nesterov: bool = False
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        _check(self.name in ("adamw", "adam", "sgd"), f"name={self.name!r} must be one of 'adamw', 'adam', 'sgd'")
        _check(self.schedule in ("cosine", "constant", "linear"),
               f"schedule={self.schedule!r} must be one of 'cosine', 'constant', 'linear'")
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
        _check(0 <= self.momentum < 1, f"momentum={self.momentum} must be in [0, 1)")
        _check(self.name == "sgd" or (self.momentum == 0 and not self.nesterov),
               f"momentum={self.momentum} and nesterov={self.nesterov} apply to name='sgd' only, not {self.name!r}")
        _check(not self.nesterov or self.momentum > 0, f"nesterov=True needs momentum > 0, got {self.momentum}")


@dataclass
class TrainConfig:
    """The loop: how long, how big a batch, how often to evaluate, log and checkpoint, on what device.

    ``batch_size`` is the global batch of one optimiser step (over all processes and accumulation
    micro-batches); it must divide evenly by ``grad_accum`` times the number of processes. The sequence
    length of a sequence task belongs to the task's data config (``data.context`` of ``archlab train lm``).
    ``eval_every``, ``checkpoint_every`` and ``log_every``
    count optimiser steps; 0 turns the periodic action off (the final evaluation and model still happen).
    ``precision="auto"`` is bf16 autocast on a GPU that supports it and on a CPU with bf16 matrix units (AMX or
    AVX-512 bf16: ``archlab.train.precision``), fp32 elsewhere. ``ema_decay > 0`` keeps
    an exponential moving average of the weights (``archlab.train.ema``), checkpointed and written to
    ``final/ema/``; 0 turns it off.
    """

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "context": "'data.context', the sequence length of the LM task's data config (--set data.context=N)"}

    steps: int = 1000
    batch_size: int = 16
    grad_accum: int = 1
    eval_every: int = 200
    eval_batches: int = 8
    checkpoint_every: int = 200
    log_every: int = 10
    precision: Precision = "auto"
    device: str = "auto"
    seed: int = 0
    progress: bool = True
    ema_decay: float = 0.0
    parallel: Literal["ddp", "fsdp"] = "ddp"  # under torchrun: DDP, or FSDP2 sharding (archlab.train.parallel)

    def __post_init__(self) -> None:
        check_at_least(self, 1, "steps", "batch_size", "grad_accum")
        _check(self.parallel in ("ddp", "fsdp"), f"parallel={self.parallel!r} must be one of 'ddp', 'fsdp'")
        check_divisible(self, "batch_size", "grad_accum")
        check_at_least(self, 0, "eval_every", "checkpoint_every", "log_every", note="(0 turns it off)")
        check_at_least(self, 1, "eval_batches")
        _check(0 <= self.ema_decay < 1, f"ema_decay={self.ema_decay} must be in [0, 1) (0 turns it off)")
        _check(
            self.precision in ("auto", "fp32", "bf16"),
            f"precision={self.precision!r} must be one of 'auto', 'fp32', 'bf16'",
        )
        _check(
            self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
            f"device={self.device!r} must be 'auto', 'cpu' or 'cuda[:N]'",
        )


def config_as_json(value: Any) -> Any:
    """A config section in JSON-able form: a dataclass as its fields, an object with ``to_dict()`` (a
    transformers ``PretrainedConfig``) as that, a mapping as a dict, anything else as it is."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if callable(getattr(value, "to_dict", None)):
        return value.to_dict()
    if isinstance(value, Mapping):
        return dict(value)
    return value


@dataclass
class RunConfig:
    """One training run: the family's ``model`` and ``data`` configs beside the loop's ``optim`` and ``train``.

    ``model`` is any config object (a dataclass, an object with ``to_dict()``, a dict) or None when the task
    builds its model itself (a claim's toy); ``data`` a dataclass or None. ``--set model.x=...`` reaches
    dataclass fields only. A resumed run must have the same ``model`` config as its checkpoint.
    """

    model: Any = None
    data: Any = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check(
            self.data is None or is_dataclass(self.data),
            f"data={type(self.data).__name__} must be a config dataclass or None",
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written beside checkpoints (``run_config.json``); what JSON cannot hold is its repr."""
        return json.loads(json.dumps({name: config_as_json(value) for name, value in vars(self).items()},
                                     default=repr))
