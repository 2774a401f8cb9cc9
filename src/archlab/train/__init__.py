"""The one training loop: tasks, configs, optimisation, checkpoints, data parallelism, progress and metrics.

A family supplies a ``Task`` (``archlab.train.task``); ``fit(task, RunConfig(...), out_dir)`` trains it.
Names are imported lazily so that ``archlab --help`` (which registers the ``train`` command) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OptimConfig": "config", "TrainConfig": "config", "RunConfig": "config",
    "apply_overrides": "overrides",
    "Task": "task", "Player": "task", "LossOutput": "task",
    "param_groups": "optim", "build_optimizer": "optim", "lr_factor": "optim", "clip_gradients": "optim",
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "latest_checkpoint": "checkpoint",
    "seed_everything": "checkpoint",
    "fit": "loop", "FitResult": "loop", "NonFiniteLossError": "loop",
    "MetricsLog": "progress", "read_metrics": "progress",
    "DistContext": "distributed", "init_distributed": "distributed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'archlab.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"archlab.train.{_EXPORTS[name]}"), name)
