"""How a data-parallel player's gradients are synchronised: DDP, FSDP2, or one explicit all-reduce.

Every engine keeps the loop's arithmetic: each rank backpropagates its micro-batches' shares of the
**global-batch mean** (a micro-batch of m items out of n weighs m / n), and the gradients are **summed**
over ranks, so every rank holds the gradient of the global-batch mean, as one process would.

- ``"ddp"`` (``train.parallel``, the default): ``torch.nn.parallel.DistributedDataParallel`` (Li et al.
  2020, "PyTorch Distributed", VLDB): the all-reduce runs in buckets as the backward produces gradients,
  overlapped with it, straight from the buckets (``gradient_as_bucket_view``, no second copy of the
  gradients); ``no_sync`` skips it on all but the last accumulation micro-batch; rank 0's buffers are
  broadcast at every forward. DDP averages over ranks; a communication hook that sums replaces that
  division. A task calls ``self.model(...)`` inside ``task.loss``, and DDP's reducer only follows a forward
  that goes through its wrapper: for the micro-batches of an update ``task.model`` *is* the wrapper, whose
  attribute lookups fall through to the model (``self.model.config`` still works); evaluation, ``after_step``
  and saving see the model itself, so checkpoints keep their keys (no ``module.`` prefix).
  DDP's assumptions are checked on the first update of a run, which takes the explicit path: a single
  player owning the whole model, whose ``loss`` calls ``self.model(...)`` exactly once per micro-batch
  (a method such as ``self.model.loss(...)`` bypasses the wrapper; two calls before one backward break
  the reducer). ``find_unused_parameters`` is turned on only when a parameter got no gradient in that update.
- The explicit path (``archlab.train.distributed.all_reduce_gradients``: one flat all-reduce after the
  backward) serves what DDP does not: tasks with several players (a GAN's discriminator is called on real
  and on fake samples within one loss, and each player steps on its own), tasks that fail the checks
  above, and updates whose ranks get different numbers of micro-batches (DDP's per-forward buffer
  broadcasts would pair up wrongly). Buffers are not synchronised on this path.
- ``"fsdp"``: FSDP2, ``torch.distributed.fsdp.fully_shard`` (Zhao et al. 2023, "PyTorch FSDP", VLDB), for
  a model larger than one device: every element of a ``ModuleList`` (the layers) is a unit of its own, then
  the root; parameters, gradients and optimiser states are sharded over ranks (``DTensor``). Gradients are
  reduce-scattered as a sum (divide factor 1, sum-only collectives, which gloo supports);
  ``set_requires_gradient_sync(False)`` plays ``no_sync``. ``full_state()`` gathers full weights and
  optimiser states for checkpoints and the final model, and shards what a checkpoint loads, so checkpoints
  are those of a one-process run. One player, and the same number of micro-batches on every rank.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator, Literal, Mapping, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from archlab.train.distributed import DistContext, all_reduce_gradients
from archlab.train.task import Player, Task

logger = logging.getLogger(__name__)

Parallel = Literal["ddp", "fsdp"]


def _sum_hook(state, bucket):  # unannotated: DDP checks the annotations, which this module keeps as strings
    """DDP's bucket all-reduce without its division by the world size: ranks hold shares of the global mean.
    ``bucket`` is a ``dist.GradBucket``; the result, a future of the summed bucket."""
    work = dist.all_reduce(bucket.buffer(), op=dist.ReduceOp.SUM, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


class _FallThrough:
    """Attribute lookups that the wrapper does not answer go to the wrapped ``module``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":
                raise
            return getattr(self.module, name)


class _CountingForward(_FallThrough, nn.Module):
    """Stands in for ``task.model`` on the first update: counts the calls of the model's forward."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.calls = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.module(*args, **kwargs)


class _TaskDDP(_FallThrough, DistributedDataParallel):
    """``DistributedDataParallel`` that counts its forwards and lets the task reach the model's attributes."""

    def __init__(self, module: nn.Module, **kwargs: Any) -> None:
        super().__init__(module, **kwargs)
        self.calls = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super().forward(*args, **kwargs)


@contextmanager
def _model_replaced(task: Task, stand_in: nn.Module) -> Iterator[None]:
    model = task.model
    task.model = stand_in
    try:
        yield
    finally:
        task.model = model


def _max_over_ranks(values: Sequence[int], context: DistContext) -> list[int]:
    tensor = torch.tensor(list(values), dtype=torch.long)
    if context.enabled:
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [int(v) for v in tensor.cpu()]


def _piece_counts(pieces: Sequence[Any], context: DistContext) -> tuple[int, int]:
    """The least and the most micro-batches any rank has in this update."""
    most, minus_least = _max_over_ranks([len(pieces), -len(pieces)], context)
    return -minus_least, most


class ReplicatedSync:
    """The explicit path: backpropagate every micro-batch, then sum the player's gradients over ranks at once."""

    def __init__(self, context: DistContext) -> None:
        self.context = context

    def micro_batches(self, player: Player, params: list[nn.Parameter], pieces: Sequence[Any]) -> Iterator[Any]:
        """Yield the micro-batches; the caller computes and backpropagates each one's loss before the next.
        When the loop asks past the last one, the gradients are synchronised."""
        yield from pieces
        all_reduce_gradients(params, self.context)

    @contextmanager
    def full_state(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> Iterator[None]:
        """Weights and optimiser states as a one-process run holds them (nothing to do when replicated)."""
        yield


class DDPSync(ReplicatedSync):
    """``DistributedDataParallel`` for a single-player task (see the module docstring for the checks)."""

    def __init__(self, task: Task, context: DistContext, device: torch.device) -> None:
        super().__init__(context)
        self.task, self.device = task, device
        self.ddp: _TaskDDP | None = None
        self.plan: dict[str, bool] | None = None  # DDP's settings, once the first update has run
        players = task.players()
        self.eligible = len(players) == 1 and players[0].module is task.model
        if not self.eligible:
            logger.info("data parallel: %d players, gradients synchronised by one all-reduce per update "
                        "(DDP needs one player owning the whole model)", len(players))

    def micro_batches(self, player: Player, params: list[nn.Parameter], pieces: Sequence[Any]) -> Iterator[Any]:
        if not self.eligible:
            yield from super().micro_batches(player, params, pieces)
            return
        if self.plan is None:
            yield from self._first_update(params, pieces)
            return
        if not self.plan["ddp"]:
            yield from super().micro_batches(player, params, pieces)
            return
        least, most = _piece_counts(pieces, self.context)
        if least != most or least == 0:
            yield from super().micro_batches(player, params, pieces)
            return
        if self.ddp is None:
            self.ddp = self._wrap(find_unused=self.plan["find_unused"])
        last = len(pieces) - 1
        with _model_replaced(self.task, self.ddp):
            for i, piece in enumerate(pieces):
                self.ddp.calls = 0
                with self.ddp.no_sync() if i < last else nullcontext():
                    yield piece
                if self.ddp.calls != 1:
                    raise ValueError(f"train.parallel='ddp': {type(self.task).__name__}.loss called self.model(...) "
                                     f"{self.ddp.calls} times on one micro-batch; DistributedDataParallel needs "
                                     "exactly one forward per backward, as in the first update")

    def _first_update(self, params: list[nn.Parameter], pieces: Sequence[Any]) -> Iterator[Any]:
        """The explicit path, watching what DDP would need: one forward per micro-batch, unused parameters."""
        counter = _CountingForward(self.task.model)
        calls = []
        with _model_replaced(self.task, counter):
            for piece in pieces:
                counter.calls = 0
                yield piece
                calls.append(counter.calls)
        unused = bool(pieces) and any(p.grad is None for p in params)
        not_once, unused = _max_over_ranks([any(c != 1 for c in calls), unused], self.context)
        all_reduce_gradients(params, self.context)
        self.plan = {"ddp": not not_once, "find_unused": bool(unused)}
        if not_once:
            logger.info("data parallel: %s.loss does not call self.model(...) exactly once per micro-batch; "
                        "gradients synchronised by one all-reduce per update instead of DDP", type(self.task).__name__)

    def _wrap(self, *, find_unused: bool) -> _TaskDDP:
        ddp = _TaskDDP(self.task.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                       find_unused_parameters=find_unused, gradient_as_bucket_view=True)
        ddp.register_comm_hook(state=None, hook=_sum_hook)
        logger.info("data parallel: DistributedDataParallel over %d ranks (find_unused_parameters=%s)",
                    self.context.world_size, find_unused)
        return ddp


class FSDPSync(ReplicatedSync):
    """FSDP2 (``fully_shard``) for a single-player task: sharded weights, gradients and optimiser states."""

    def __init__(self, task: Task, context: DistContext) -> None:
        from torch.distributed.fsdp import FSDPModule, fully_shard

        super().__init__(context)
        players = task.players()
        if len(players) != 1 or players[0].module is not task.model:
            raise ValueError(f"train.parallel='fsdp' needs one player owning the whole model; "
                             f"{type(task).__name__} has players {[p.name for p in players]}")
        self.model = task.model
        layers = [layer for lst in self.model.modules() if isinstance(lst, nn.ModuleList) for layer in lst]
        for layer in layers:
            if any(True for _ in layer.parameters()) and not isinstance(layer, FSDPModule):
                fully_shard(layer)
        fully_shard(self.model)
        self.units = [m for m in self.model.modules() if isinstance(m, FSDPModule)]
        for unit in self.units:
            unit.set_gradient_divide_factor(1.0)
            unit.set_force_sum_reduction_for_comms(True)
        logger.info("data parallel: FSDP2 over %d ranks, %d sharded units", context.world_size, len(self.units))

    def micro_batches(self, player: Player, params: list[nn.Parameter], pieces: Sequence[Any]) -> Iterator[Any]:
        least, most = _piece_counts(pieces, self.context)
        if least != most or least == 0:
            raise ValueError(f"train.parallel='fsdp' needs the same number of micro-batches on every rank; this "
                             f"update has {least} to {most} (make the global batch at least world size x "
                             "train.grad_accum items, split evenly)")
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            self.model.set_requires_gradient_sync(i == last)
            yield piece

    @contextmanager
    def full_state(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> Iterator[None]:
        """For the duration: the model holds full, plain parameters and is of its own class, and the optimisers
        hold full state tensors, on every rank; what is loaded meanwhile is sharded back on exit."""
        from torch.distributed.fsdp import FSDPModule
        from torch.distributed.tensor import DTensor, distribute_tensor

        for unit in self.units:  # the root stays unsharded after a forward (an evaluation): shards first
            unit.reshard()
        swapped, full_of = [], {}
        with torch.no_grad():
            for module in self.model.modules():
                for name, param in list(module._parameters.items()):
                    if isinstance(param, DTensor):
                        if id(param) not in full_of:  # tied weights: one full tensor for one parameter
                            full_of[id(param)] = nn.Parameter(param.full_tensor().clone(),
                                                               requires_grad=param.requires_grad)
                        swapped.append((module, name, param))
                        module._parameters[name] = full_of[id(param)]
            for optimizer in optimizers.values():
                for state in optimizer.state.values():
                    for key, value in state.items():
                        if isinstance(value, DTensor):
                            state[key] = value.full_tensor().clone()
        classes = [(unit, type(unit)) for unit in self.units]
        for unit, cls in classes:
            unit.__class__ = next(c for c in cls.__mro__ if not issubclass(c, FSDPModule))
        # FSDP's load hooks re-register sharded parameters; set aside while the modules hold full ones
        hooks = {module: module._load_state_dict_post_hooks for module, _, _ in swapped}
        for module in hooks:
            module._load_state_dict_post_hooks = OrderedDict()
        try:
            yield
        finally:
            for module, saved in hooks.items():
                module._load_state_dict_post_hooks = saved
            for unit, cls in classes:
                unit.__class__ = cls
            with torch.no_grad():
                for module, name, sharded in swapped:
                    full = module._parameters[name].detach().to(sharded.device)
                    shard = distribute_tensor(full, sharded.device_mesh, sharded.placements)
                    sharded.to_local().copy_(shard.to_local())
                    module._parameters[name] = sharded
                for optimizer in optimizers.values():
                    for param, state in optimizer.state.items():
                        if not isinstance(param, DTensor):
                            continue
                        for key, value in state.items():
                            if isinstance(value, torch.Tensor) and not isinstance(value, DTensor) \
                                    and value.shape == param.shape:
                                state[key] = distribute_tensor(value.to(param.device), param.device_mesh,
                                                               param.placements)


def build_engine(task: Task, parallel: Parallel, context: DistContext, device: torch.device) -> ReplicatedSync:
    """The engine for ``train.parallel`` (one process: nothing to synchronise, the explicit path's no-ops).

    Call it before the optimisers are built: FSDP replaces the model's parameters by their shards.
    """
    if not context.enabled:
        return ReplicatedSync(context)
    if parallel == "fsdp":
        return FSDPSync(task, context)
    return DDPSync(task, context, device)
