"""The mixture-of-experts feed-forward layer: route, enforce capacity, dispatch grouped, combine.

Shazeer et al. 2017 (sparsely-gated MoE), Lepikhin et al. 2021 (GShard: capacity, top-2), Fedus et al. 2022
(Switch: top-1, capacity factor, dropped tokens): ``y(x) = sum_{e in chosen(x)} g_e(x) * E_e(x)`` plus, when
configured, always-active shared experts (DeepSeekMoE, Dai et al. 2024) ``+ S(x)``.

Capacity: with ``capacity_factor`` set, each expert takes at most
``expert_capacity = ceil(top_k * tokens / K * capacity_factor)`` assignments (Switch, Sec. 2.2, with GShard's
``top_k`` factor), kept in the router's priority order. A dropped assignment contributes nothing: a token that
loses all its assignments gets a zero output from this layer and is carried by the residual connection around
it ("passed directly to the next layer through the residual connection"). ``capacity_factor=None`` is the
dropless mode (every assignment is computed, as in Mixtral and MegaBlocks). Expert choice routing fixes each
expert's bucket itself, so no further capacity applies.

Dispatch: assignments are sorted by expert (stable, keeping priority order inside an expert), the tokens are
gathered into one (S, D) matrix, each expert's contiguous slice is multiplied by its weights in one grouped
matmul per projection (``archlab.moe.experts``), and the gate-weighted rows are added back to their tokens with
``index_add``. ``forward_ref`` computes the same from the same routing with a Python loop over assignments,
one token and one expert at a time.

Every forward returns ``MoEOutput(hidden, aux_loss, router_stats)``: ``aux_loss`` is the configured balancing
loss plus ``z_loss_coef`` times the router z-loss (``archlab.moe.losses``), ``router_stats`` the per-expert
load, the dropped fraction and token count, and the mean router entropy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from archlab.core.mlp import SwiGLU
from archlab.moe.experts import SwiGLUExperts
from archlab.moe.losses import expert_counts, importance_loss, load_loss, router_z_loss, switch_load_balancing_loss
from archlab.moe.routers import ROUTERS, RouterKind, Routing, make_router

BalanceLoss = Literal["none", "switch", "shazeer"]


@dataclass
class RouterStats:
    """``load`` (K,): assignments routed to each expert, before capacity; ``dropped_fraction``: share of
    assignments dropped at capacity; ``dropped_tokens``: tokens left with no expert (they pass through on the
    residual path); ``entropy``: mean entropy of the router's softmax (nats)."""

    load: torch.Tensor
    dropped_fraction: torch.Tensor
    dropped_tokens: torch.Tensor
    entropy: torch.Tensor


@dataclass
class MoEOutput:
    """``hidden`` with the input's shape, ``aux_loss`` a scalar (zero when no loss is configured)."""

    hidden: torch.Tensor
    aux_loss: torch.Tensor
    router_stats: RouterStats


def expert_capacity(n_tokens: int, n_experts: int, capacity_factor: float, top_k: int = 1) -> int:
    """Assignments one expert may take: ``ceil(top_k * n_tokens / n_experts * capacity_factor)``."""
    if not 0 < capacity_factor < math.inf:
        raise ValueError(f"capacity_factor={capacity_factor} must be > 0 and finite")
    return math.ceil(top_k * n_tokens * capacity_factor / n_experts)


def within_capacity(expert_index: torch.Tensor, n_experts: int, capacity: int) -> torch.Tensor:
    """(S,) bool: the assignment's rank among its expert's assignments, in list order, is below ``capacity``."""
    sorted_experts, order = torch.sort(expert_index, stable=True)  # (S,) each
    counts = torch.bincount(expert_index, minlength=n_experts)  # (K,)
    starts = counts.cumsum(0) - counts  # (K,)
    rank_sorted = torch.arange(expert_index.numel(), device=expert_index.device) - starts[sorted_experts]
    rank = torch.empty_like(rank_sorted)
    rank[order] = rank_sorted  # back to list order
    return rank < capacity


def group_by_expert(kept: Routing, n_experts: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The assignments sorted by expert (stable: priority order kept inside an expert): their token indices
    (S,), gates (S,), and the count of each expert's contiguous slice (K,)."""
    expert_sorted, order = torch.sort(kept.expert_index, stable=True)  # (S,) each
    counts = torch.bincount(expert_sorted, minlength=n_experts)  # (K,)
    return kept.token_index[order], kept.gate[order], counts


def combine(y: torch.Tensor, gate: torch.Tensor, token_index: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out[t] = sum over assignments s of token t of gate[s] * y[s]``: rows ``y`` (S, D) -> (N, D) like ``x``."""
    g = gate[:, None].to(y.dtype)  # (S, 1)
    weighted = y * g if y.requires_grad or g.requires_grad else y.mul_(g)  # (S, D); in place without autograd
    return torch.zeros_like(x).index_add_(0, token_index, weighted)


class MoELayer(nn.Module):
    """Mixture-of-experts feed-forward: x (B, L, D) or (N, D) -> ``MoEOutput`` (see the module docstring)."""

    def __init__(
        self,
        *,
        d_model: int,
        d_expert: int,
        n_experts: int,
        top_k: int = 2,
        router: RouterKind = "topk",
        capacity_factor: float | None = None,
        balance_loss: BalanceLoss = "switch",
        balance_coef: float = 1e-2,
        z_loss_coef: float = 0.0,
        n_shared_experts: int = 0,
        bias_gamma: float = 1e-3,
        bias_score: Literal["sigmoid", "softmax"] = "sigmoid",
    ) -> None:
        super().__init__()
        if router not in ROUTERS:
            raise ValueError(f"router={router!r} is not one of {', '.join(ROUTERS)}")
        if balance_loss not in ("none", "switch", "shazeer"):
            raise ValueError(f"balance_loss={balance_loss!r} is not one of 'none', 'switch', 'shazeer'")
        if balance_loss == "shazeer" and router != "noisy_topk":
            raise ValueError(f"balance_loss='shazeer' needs router='noisy_topk' (its load estimator), got {router!r}")
        if capacity_factor is not None and not 0 < capacity_factor < math.inf:
            raise ValueError(f"capacity_factor={capacity_factor} must be > 0 and finite (None: dropless)")
        if balance_coef < 0 or z_loss_coef < 0:
            raise ValueError(f"balance_coef={balance_coef} and z_loss_coef={z_loss_coef} must be >= 0")
        if n_shared_experts < 0:
            raise ValueError(f"n_shared_experts={n_shared_experts} must be >= 0")
        self.d_model, self.n_experts, self.top_k = d_model, n_experts, top_k
        self.router_kind, self.capacity_factor = router, capacity_factor
        self.balance_loss, self.balance_coef, self.z_loss_coef = balance_loss, balance_coef, z_loss_coef
        self.router = make_router(router, d_model=d_model, n_experts=n_experts, top_k=top_k,
                                  capacity_factor=capacity_factor, bias_gamma=bias_gamma, bias_score=bias_score)
        self.experts = SwiGLUExperts(d_model=d_model, d_expert=d_expert, n_experts=n_experts)
        self.shared = (SwiGLU(d_model=d_model, d_hidden=n_shared_experts * d_expert, bias=False)
                       if n_shared_experts else None)

    def route(self, x: torch.Tensor) -> tuple[Routing, Routing, RouterStats]:
        """Routing of tokens ``x`` (N, D) before and after capacity, and its statistics."""
        routing = self.router(x)
        kept = routing
        if self.capacity_factor is not None and self.router_kind != "expert_choice":
            capacity = expert_capacity(x.shape[0], self.n_experts, self.capacity_factor, routing.top_k)
            keep = within_capacity(routing.expert_index, self.n_experts, capacity)  # (S,)
            kept = Routing(routing.token_index[keep], routing.expert_index[keep], routing.gate[keep],
                           logits=routing.logits, probs=routing.probs, top_k=routing.top_k,
                           load_estimate=routing.load_estimate)
        n_assigned = max(routing.expert_index.numel(), 1)
        served = torch.bincount(kept.token_index, minlength=x.shape[0]) > 0  # (N,)
        probs = routing.probs
        stats = RouterStats(
            load=expert_counts(routing.expert_index, self.n_experts).detach(),
            dropped_fraction=torch.tensor(1.0 - kept.expert_index.numel() / n_assigned),
            dropped_tokens=(~served).sum(),
            entropy=-(probs * probs.clamp_min(1e-20).log()).sum(dim=-1).mean().detach(),
        )
        return routing, kept, stats

    def auxiliary_loss(self, routing: Routing) -> torch.Tensor:
        """The configured balancing loss plus the weighted z-loss, from the routing before capacity."""
        aux = routing.logits.new_zeros((), dtype=torch.float32)
        if self.balance_loss == "switch":
            aux = aux + switch_load_balancing_loss(routing.probs, routing.expert_index, alpha=self.balance_coef)
        elif self.balance_loss == "shazeer":
            aux = aux + importance_loss(routing.gate, routing.expert_index, self.n_experts, w=self.balance_coef)
            aux = aux + load_loss(routing.load_estimate, w=self.balance_coef)
        if self.z_loss_coef:
            aux = aux + self.z_loss_coef * router_z_loss(routing.logits)
        return aux

    def dispatch(self, x: torch.Tensor, kept: Routing) -> torch.Tensor:
        """Grouped expert computation of the kept assignments on tokens ``x`` (N, D) -> (N, D)."""
        token_sorted, gate_sorted, counts = group_by_expert(kept, self.n_experts)
        y = self.experts(x.index_select(0, token_sorted), counts)  # (S, D)
        return combine(y, gate_sorted, token_sorted, x)

    def _output(self, x: torch.Tensor, forward_ref: bool) -> MoEOutput:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"MoE input must end in d_model={self.d_model}, got shape {tuple(x.shape)}")
        flat = x.reshape(-1, self.d_model)  # (..., D) -> (N, D)
        routing, kept, stats = self.route(flat)
        out = self._dispatch_ref(flat, kept) if forward_ref else self.dispatch(flat, kept)
        if self.shared is not None:
            out = out + self.shared(flat)
        return MoEOutput(hidden=out.reshape(x.shape), aux_loss=self.auxiliary_loss(routing), router_stats=stats)

    def forward(self, x: torch.Tensor) -> MoEOutput:
        return self._output(x, forward_ref=False)

    def forward_ref(self, x: torch.Tensor) -> MoEOutput:
        """The same layer computed one assignment at a time (a Python loop; for tests on tiny inputs)."""
        return self._output(x, forward_ref=True)

    def _dispatch_ref(self, x: torch.Tensor, kept: Routing) -> torch.Tensor:
        rows = [torch.zeros_like(x[0]) for _ in range(x.shape[0])]
        for t, e, g in zip(kept.token_index.tolist(), kept.expert_index.tolist(), kept.gate):
            rows[t] = rows[t] + g.to(x.dtype) * self.experts.expert(e, x[t])
        return torch.stack(rows) if rows else torch.zeros_like(x)
