"""Optimisers with parameter groups, the learning-rate schedules, and gradient clipping.

- Optimisers (``OptimConfig.name``): AdamW (Loshchilov and Hutter 2019, decoupled weight decay), Adam
  (Kingma and Ba 2015; weight decay as an L2 term in the gradient) and SGD with optional momentum and
  Nesterov momentum (Sutskever et al. 2013), all torch's own. Weight decay shrinks the matrices of linear
  and attention layers only; norms (gains), biases and embeddings are not decayed, as in GPT-2/3 and
  nanoGPT: decaying a gain or an embedding pulls it towards zero for no regularising benefit.
- Schedules (``OptimConfig.schedule``): ``lr_factor(s)`` multiplies the peak ``lr`` at optimiser step ``s``
  (0-based): ``(s + 1) / warmup`` during warmup, then with ``t`` running from 0 at ``s = warmup`` to 1 at
  the last step, ``"cosine"``: ``min + (1 - min) * (1 + cos(pi * t)) / 2`` (Loshchilov and Hutter 2017,
  SGDR without restarts, the recipe of GPT-3 and LLaMA), ``"linear"``: ``1 - (1 - min) * t``, so both end
  at ``min_lr_ratio * lr``; ``"constant"``: 1 after warmup.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from archlab.train.config import OptimConfig, Schedule


def _is_embedding_name(name: str) -> bool:
    """``tok_emb.weight``, ``pos_embedding``, ``wte.weight``: the parameter or its module names an embedding."""
    parts = name.lower().split(".")[-2:]
    return any("emb" in part or part in ("wte", "wpe") for part in parts)


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Split the trainable parameters of ``module`` into a decayed and a non-decayed group.

    Not decayed: parameters with fewer than two dimensions (norm gains, biases), every parameter of an
    ``nn.Embedding``, and parameters whose owning module or own name says embedding (``*emb*``,
    ``wte``, ``wpe``: learned position tables held as a bare ``nn.Parameter``). A tied output head
    shares its tensor with the embedding and so is not decayed either. Each tensor appears once.
    """
    embedding_params = {
        id(p) for m in module.modules() if isinstance(m, nn.Embedding) for p in m.parameters(recurse=False)
    }
    decay, no_decay = [], []
    seen: set[int] = set()
    for name, param in module.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        if param.dim() < 2 or id(param) in embedding_params or _is_embedding_name(name):
            no_decay.append(param)
        else:
            decay.append(param)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(module: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser ``config.name`` over ``param_groups(module)`` with the peak learning rate of ``config``."""
    groups = param_groups(module, config.weight_decay)
    if not groups:
        raise ValueError(f"{type(module).__name__} has no trainable parameters to optimise")
    if config.name == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               foreach=False)
    adam = torch.optim.AdamW if config.name == "adamw" else torch.optim.Adam
    return adam(groups, lr=config.lr, betas=config.betas, eps=config.eps, foreach=False)


def lr_factor(step: int, *, total_steps: int, warmup_steps: int, min_lr_ratio: float,
              schedule: Schedule = "cosine") -> float:
    """The multiplier of the peak learning rate at optimiser step ``step`` (0-based) of ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    decay_steps = total_steps - 1 - warmup_steps
    progress = 1.0 if decay_steps <= 0 else min(1.0, (step - warmup_steps) / decay_steps)
    if schedule == "linear":
        return 1.0 - (1.0 - min_lr_ratio) * progress
    if schedule == "cosine":
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"schedule={schedule!r} must be one of 'cosine', 'constant', 'linear'")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_gradients(params: Iterable[nn.Parameter], max_norm: float) -> float:
    """Scale gradients so their global L2 norm is at most ``max_norm`` (0: no clipping); return the norm before."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(grads, max_norm))
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in grads])))
