"""Expert parallelism: the K experts sharded across the processes of a group, tokens exchanged all-to-all.

GShard (Lepikhin et al. 2021, Sec. 2.2 and 3.2) and Switch (Fedus et al. 2022, Sec. 2.2, "expert parallelism"):
every process holds the router (replicated) and ``K / W`` of the experts (W processes; rank r owns experts
``[r K/W, (r + 1) K/W)``), and routes its own tokens. One forward of ``ExpertParallelMoELayer``:

1. route the local tokens and apply capacity (``MoELayer.route``; the capacity counts the local tokens only,
   as GShard's per-group capacity does);
2. sort the kept assignments by expert; the rows for rank j's experts form one contiguous block;
3. exchange the per-expert counts (``all_to_all_single`` on a (K,) vector), so that every rank knows how many
   rows it will receive from each rank for each of its experts;
4. send the token rows to the ranks that own their experts (``all_to_all_single`` with uneven splits);
5. regroup the received rows by local expert (they arrive grouped by source rank, then expert), run the local
   shard's grouped matmuls, and restore the arrival order;
6. send the results back (the reverse all-to-all) and add the gate-weighted rows to their tokens.

Gradients flow through both exchanges (``AllToAll``: the backward of an all-to-all is the all-to-all with the
splits swapped). Each rank's expert gradients are those of its shard from every rank's tokens, which equal
the corresponding slice of the single-process layer's; the router's gradient on each rank comes from its
local tokens only, and summing it over ranks (what data-parallel training does) gives the single-process one.
The auxiliary loss and the router statistics are those of the local tokens. Works with gloo (CPU) and NCCL
(GPU): the counts are moved to the host once per exchange to size the splits.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from archlab.moe.experts import SwiGLUExperts
from archlab.moe.layer import MoELayer, MoEOutput, combine, group_by_expert
from archlab.moe.routers import Routing


class AllToAll(torch.autograd.Function):
    """Differentiable ``all_to_all_single`` of rows: ``x`` (sum(send), D) -> (sum(recv), D)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, send: list[int], recv: list[int], group) -> torch.Tensor:
        ctx.send, ctx.recv, ctx.group = send, recv, group
        out = x.new_empty((sum(recv), *x.shape[1:]))
        dist.all_to_all_single(out, x.contiguous(), output_split_sizes=recv, input_split_sizes=send, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return AllToAll.apply(grad.contiguous(), ctx.recv, ctx.send, ctx.group), None, None, None


def all_to_all_rows(x: torch.Tensor, send: list[int], recv: list[int], group=None) -> torch.Tensor:
    """Rows ``x`` split ``send`` (one count per rank) out, ``recv`` rows in from each rank; differentiable."""
    return AllToAll.apply(x, send, recv, group)


class ExpertParallelMoELayer(MoELayer):
    """``MoELayer`` whose experts are sharded across the ``group`` (see the module docstring).

    Takes ``MoELayer``'s keyword arguments plus ``group`` (default: the world). ``n_experts`` must divide
    evenly among the ranks; ``experts`` holds this rank's ``n_experts / world_size`` experts, numbered from
    ``first_expert``. ``from_layer`` builds it from a whole single-process layer, keeping this rank's slice.
    """

    def __init__(self, *, group=None, **layer_kwargs) -> None:
        if not dist.is_available() or not dist.is_initialized():
            raise ValueError("ExpertParallelMoELayer needs an initialised torch.distributed process group")
        super().__init__(**layer_kwargs)
        world, rank = dist.get_world_size(group), dist.get_rank(group)
        if self.n_experts % world:
            raise ValueError(f"n_experts={self.n_experts} must be divisible by the world size {world}")
        if self.router_kind == "expert_choice":
            raise ValueError("router='expert_choice' picks tokens per expert over the whole batch; "
                             "it is not supported with expert parallelism")
        self.group, self.world_size, self.rank = group, world, rank
        self.n_local = self.n_experts // world
        self.first_expert = rank * self.n_local
        d_expert = self.experts.d_expert
        self.experts = SwiGLUExperts(d_model=self.d_model, d_expert=d_expert, n_experts=self.n_local)

    @classmethod
    def from_layer(cls, layer: MoELayer, *, group=None) -> "ExpertParallelMoELayer":
        """The sharded twin of ``layer``: its router and shared experts, and this rank's slice of its experts."""
        if type(layer) is not MoELayer:
            raise ValueError(f"from_layer takes a single-process MoELayer, got {type(layer).__name__}")
        kwargs = dict(
            d_model=layer.d_model, d_expert=layer.experts.d_expert, n_experts=layer.n_experts, top_k=layer.top_k,
            router=layer.router_kind, capacity_factor=layer.capacity_factor, balance_loss=layer.balance_loss,
            balance_coef=layer.balance_coef, z_loss_coef=layer.z_loss_coef,
            n_shared_experts=(layer.shared.gate.out_features // layer.experts.d_expert) if layer.shared else 0,
        )
        if layer.router_kind == "bias_balanced":
            kwargs.update(bias_gamma=layer.router.gamma, bias_score=layer.router.score)
        sharded = cls(group=group, **kwargs)
        state = {k: v for k, v in layer.state_dict().items() if not k.startswith("experts.")}
        local = slice(sharded.first_expert, sharded.first_expert + sharded.n_local)
        state.update({f"experts.{k}": v[local] for k, v in layer.experts.state_dict().items()})
        sharded.load_state_dict(state)
        return sharded.train(layer.training)

    def dispatch(self, x: torch.Tensor, kept: Routing) -> torch.Tensor:
        """Tokens ``x`` (N, D) through the experts on their owning ranks -> (N, D)."""
        token_sorted, gate_sorted, counts = group_by_expert(kept, self.n_experts)  # counts (K,)
        world, n_local = self.world_size, self.n_local
        recv_counts = torch.empty_like(counts)
        dist.all_to_all_single(recv_counts, counts, group=self.group)  # (W * K/W,): [source rank, local expert]
        send = counts.view(world, n_local).sum(1).tolist()  # rows to each rank
        recv_grid = recv_counts.view(world, n_local)  # (W, K/W) rows from each rank for each local expert
        recv = recv_grid.sum(1).tolist()  # rows from each rank
        arrived = all_to_all_rows(x.index_select(0, token_sorted), send, recv, self.group)  # (R, D)
        local_expert = torch.arange(n_local, device=x.device).repeat(world)  # (W * K/W,)
        row_expert = local_expert.repeat_interleave(recv_grid.reshape(-1))  # (R,) local expert of each row
        by_expert = torch.sort(row_expert, stable=True).indices  # (R,) arrival rows grouped by local expert
        y = self.experts(arrived.index_select(0, by_expert), recv_grid.sum(0))  # (R, D)
        arrival_order = torch.empty_like(by_expert)
        arrival_order[by_expert] = torch.arange(by_expert.numel(), device=x.device)
        back = all_to_all_rows(y.index_select(0, arrival_order), recv, send, self.group)  # (S, D), sent order
        return combine(back, gate_sorted, token_sorted, x)

    def forward_ref(self, x: torch.Tensor) -> MoEOutput:
        raise NotImplementedError("a sharded layer has no per-token reference; compare with the whole MoELayer")
