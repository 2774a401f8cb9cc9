"""Data parallelism under ``torchrun``: process group, gradient averaging, and reductions of metrics.

``torchrun --nproc_per_node=N -m archlab train ...`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` set; ``init_distributed`` joins them into a process group (NCCL on GPUs, gloo on CPU).
Each rank computes the same global batch of a step, takes its slice, and backpropagates its slice's
share of the global mean loss; summing gradients over ranks gives every rank the gradient of the
global-batch mean. ``archlab.train.parallel`` does that sum with DDP or FSDP2 where it can;
``all_reduce_gradients`` is the explicit path beside them (one flat all-reduce after the backward, for
any number of players, without wrapping the task's modules). Parameters start equal on every rank
(same seed; rank 0's copy is broadcast to be sure), and identical gradients keep them equal.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``, its ``local_rank`` on the machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_kind: str) -> DistContext:
    """Join the process group when launched by torchrun with more than one process; else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        logger.info("rank %d of %d joined the %s process group", rank, world_size, backend)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def shutdown_distributed(context: DistContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(module: nn.Module, context: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not context.enabled:
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def all_reduce_gradients(params: Iterable[nn.Parameter], context: DistContext) -> None:
    """Sum the gradients of ``params`` over ranks, in one flat buffer.

    A gradient missing on some ranks counts as zero there; one missing on every rank stays missing (None),
    as in one process, so that the optimiser skips that parameter alike.
    """
    if not context.enabled:
        return
    params = [p for p in params if p.requires_grad]
    present = torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)  # (P,)
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params] + [present.to(params[0].grad.dtype)])  # (sum of numels + P,)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset: offset + p.numel()].view_as(p.grad))
        offset += p.numel()
    for p, count in zip(params, flat[offset:].tolist()):
        if count == 0:
            p.grad = None


def all_reduce_sum(values: torch.Tensor, context: DistContext) -> torch.Tensor:
    """The sum of ``values`` over ranks (the tensor itself in a single process)."""
    if context.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(context: DistContext) -> None:
    if context.enabled:
        dist.barrier()

