"""The synthetic routing task of the MoE claims: tokens from 8 Gaussian clusters, a label that needs an expert.

Section 4 of the claims reference ("CPU miniature"): tokens in R^32 drawn from 8 Gaussian clusters of equal
weight (centres ``N(0, I)`` scaled to norm 4, within-cluster noise ``N(0, 0.5^2 I)``); the label of a token of
cluster c is ``2c + [x . w_c > 0]`` with a random direction ``w_c`` per cluster, 16 classes in all, so every
cluster needs its own (non-linear across clusters) rule. The model is ``x -> x + MoE(x) -> linear head``:
one MoE layer of 8 SwiGLU experts, trained with Adam on fresh batches of 4096 tokens. Each batch is a pure
function of (seed, step).

``train_routing`` trains one condition (a router and a balancing method) and evaluates it on a fresh batch:
per-expert load, max/mean load, CV(load), MaxVio, the fraction of assignments that a capacity factor of 1.0,
1.25 or 2.0 would drop given that load, task accuracy, the mean squared logsumexp of the router logits,
and the share of tokens that no expert serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from archlab.moe.layer import MoELayer, expert_capacity
from archlab.moe.losses import coefficient_of_variation, max_violation

N_CLUSTERS, D_INPUT, N_CLASSES = 8, 32, 16
CAPACITY_FACTORS = (1.0, 1.25, 2.0)


class ClusterTask:
    """Batches ``(x (N, 32), label (N,))`` of the 8-cluster task; the task itself is fixed by ``task_seed``."""

    def __init__(self, *, task_seed: int = 0, radius: float = 3.0, noise: float = 1.0, offset: float = 4.0) -> None:
        g = torch.Generator().manual_seed(task_seed)
        centres = torch.randn(N_CLUSTERS, D_INPUT, generator=g)
        common = torch.randn(D_INPUT, generator=g)
        self.centres = radius * centres / centres.norm(dim=-1, keepdim=True)  # (8, 32)
        self.centres = self.centres + offset * common / common.norm()
        self.directions = torch.randn(N_CLUSTERS, D_INPUT, generator=g)  # w_c (8, 32)
        self.noise = noise

    def batch(self, n: int, *, seed: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        cluster = torch.randint(0, N_CLUSTERS, (n,), generator=g)
        offset = self.noise * torch.randn(n, D_INPUT, generator=g)  # (N, 32)
        x = self.centres[cluster] + offset
        side = (offset * self.directions[cluster]).sum(dim=-1) > 0  # (N,)
        return x, 2 * cluster + side.long()


class RoutedClassifier(nn.Module):
    """``x -> head(x + MoE(x))``: one MoE layer between the input and a linear classifier."""

    def __init__(self, **moe_kwargs) -> None:
        super().__init__()
        self.moe = MoELayer(d_model=D_INPUT, **moe_kwargs)
        self.head = nn.Linear(D_INPUT, N_CLASSES)

    def forward(self, x: torch.Tensor):
        out = self.moe(x)
        return self.head(x + out.hidden), out


@dataclass
class RoutingResult:
    """What one trained condition measured on a fresh evaluation batch (see the module docstring)."""

    load: list[float]
    max_over_mean: float
    cv: float
    max_violation: float
    dropped: dict[float, float]
    accuracy: float
    lse_squared: float
    unserved_tokens: float
    aux_grad_norm: float
    history: list[float] = field(default_factory=list)


def dropped_fraction(load: torch.Tensor, n_tokens: int, top_k: int, capacity_factor: float) -> float:
    """Share of the assignments counted in ``load`` (K,) that exceed ``expert_capacity`` at ``capacity_factor``."""
    capacity = expert_capacity(n_tokens, load.numel(), capacity_factor, top_k)
    return float((load - capacity).clamp_min(0).sum() / load.sum())


def train_routing(*, seed: int, steps: int, batch: int = 4096, lr: float = 3e-3, d_expert: int = 64,
                  task: ClusterTask | None = None, **moe_kwargs) -> RoutingResult:
    """Train ``RoutedClassifier(**moe_kwargs)`` for ``steps`` Adam steps and evaluate it."""
    task = task or ClusterTask()
    torch.manual_seed(seed)
    model = RoutedClassifier(n_experts=N_CLUSTERS, d_expert=d_expert, **moe_kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    aux_grad_norm = 0.0
    router = model.moe.router
    gamma = getattr(router, "gamma", 0.0)
    for step in range(steps):
        if step == int(0.75 * steps) and gamma:
            router.gamma = gamma / 10  # a late taper of the bias step, as DeepSeek-V3 lowers gamma late in training
        x, y = task.batch(batch, seed=seed, step=step)
        logits, out = model(x)
        if step == 0 and out.aux_loss.requires_grad:
            grads = torch.autograd.grad(out.aux_loss, model.moe.router.weight, retain_graph=True, allow_unused=True)
            aux_grad_norm = 0.0 if grads[0] is None else float(grads[0].norm())
        loss = F.cross_entropy(logits, y) + out.aux_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(max_violation(out.router_stats.load) + 1)
    model.eval()
    with torch.no_grad():
        x, y = task.batch(batch, seed=seed + 7919, step=0)
        logits, out = model(x)
        load = out.router_stats.load
        lse2 = float(torch.logsumexp(model.moe.router(x).logits.float(), dim=-1).pow(2).mean())
    top_k = max(model.moe.router(x[:1]).top_k, 1)
    return RoutingResult(
        load=load.tolist(),
        max_over_mean=float(load.max() / load.mean()),
        cv=coefficient_of_variation(load),
        max_violation=max_violation(load),
        dropped={cf: dropped_fraction(load, batch, top_k, cf) for cf in CAPACITY_FACTORS},
        accuracy=float((logits.argmax(-1) == y).float().mean()),
        lse_squared=lse2,
        unserved_tokens=float(out.router_stats.dropped_tokens) / batch,
        aux_grad_norm=aux_grad_norm,
        history=history,
    )
