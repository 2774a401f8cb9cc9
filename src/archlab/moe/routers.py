"""Routers: which experts see which tokens, with what gate weight. Every router maps tokens ``x`` (N, D) to a
``Routing`` of S token-expert assignments (flat ``token_index``, ``expert_index``, ``gate``, each (S,)) and the
router's logits and probabilities (N, K). Assignments are listed in priority order: when an expert overflows
its capacity, the later ones are dropped.

- ``TopKRouter``: softmax over K experts, keep the top k, renormalise their gates to sum to one (Mixtral,
  Jiang et al. 2024; transformers' ``MixtralTopKRouter``). Assignments are rank-major: every token's first
  choice comes before any second choice (GShard's priority, Lepikhin et al. 2021).
- ``SwitchRouter``: top-1 of the softmax, gate = that probability, not renormalised (Fedus et al. 2022, eq. 2).
- ``NoisyTopKRouter``: Shazeer et al. 2017, ``H(x)_i = (x W_g)_i + eps_i * softplus((x W_noise)_i)`` with
  ``eps ~ N(0, 1)`` while training, keep the top k of H, softmax over them. ``load_estimate`` is the smooth
  load of Appendix A, ``Load_i = sum_x Phi((clean_i(x) - kth_excluding(H(x), k, i)) / noise_i(x))``: the
  probability that expert i stays in the top k if only its own noise were drawn again. W_g and W_noise start
  at zero ("no signal and some noise", Appendix A); the noise scale has a floor of 1e-2 as in tensor2tensor.
- ``ExpertChoiceRouter``: Zhou et al. 2022; each expert takes the ``c = ceil(N * capacity_factor / K)`` tokens
  with the highest softmax score for it (a token may get several experts or none), gate = that score.
- ``BiasBalancedRouter``: auxiliary-loss-free balancing (Wang et al. 2024; DeepSeek-V3, Liu et al. 2024,
  eqs. 16-17): a per-expert bias ``b`` is added to the scores for the top-k *selection only*; the gate uses the
  unbiased score. The expert loads of the training forwards of one optimiser step are counted (summed over
  micro-batches and, when ``torch.distributed`` is initialised, over data-parallel ranks) and applied once
  after the step, ``b_i += gamma * sign(mean load - load_i)``, in ``after_optimizer_step`` (DeepSeek-V3:
  "at the end of each step"); every rank then holds the same biases. Scores are
  ``sigmoid`` (DeepSeek-V3; gates renormalised over the selected when top_k > 1, the raw score for top-1,
  where renormalising would make every gate 1 and cut the router off from the task) or ``softmax`` (Switch).

Router weights (K, D) are stored as ``weight`` in the orientation of ``nn.Linear`` and of transformers'
Mixtral router, initialised as the experts are (Switch, scale 0.1) except where noted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from archlab.moe.experts import switch_init_

RouterKind = Literal["topk", "switch", "noisy_topk", "expert_choice", "bias_balanced"]
ROUTERS = ("topk", "switch", "noisy_topk", "expert_choice", "bias_balanced")


@dataclass
class Routing:
    """Assignments of tokens to experts. ``token_index``, ``expert_index``, ``gate``: (S,), in priority order.

    ``logits`` (N, K) are the router's clean logits, ``probs`` (N, K) their softmax; ``top_k`` is the number of
    assignments per token (0 when it varies: expert choice); ``load_estimate`` (K,) is Shazeer's smooth,
    differentiable load (noisy top-k only)."""

    token_index: torch.Tensor
    expert_index: torch.Tensor
    gate: torch.Tensor
    logits: torch.Tensor
    probs: torch.Tensor
    top_k: int
    load_estimate: torch.Tensor | None = None


def _check_sizes(d_model: int, n_experts: int, top_k: int) -> None:
    if d_model < 1 or n_experts < 1:
        raise ValueError(f"d_model={d_model} and n_experts={n_experts} must be >= 1")
    if not 1 <= top_k <= n_experts:
        raise ValueError(f"top_k={top_k} must be in [1, n_experts={n_experts}]")


def _token_choice(values: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k ``values``, ``indices`` (N, k) -> rank-major flat (token_index, expert_index, gate), each (N*k,)."""
    n, k = indices.shape
    token_index = torch.arange(n, device=indices.device).repeat(k)  # (k*N,): 0..N-1, k times
    return token_index, indices.t().reshape(-1), values.t().reshape(-1)  # (N, k) -> (k, N) -> (k*N,)


class TopKRouter(nn.Module):
    """Softmax top-k with gates renormalised over the chosen experts (``gate_norm="renormalize"``, Mixtral)
    or left as probabilities (``gate_norm="none"``)."""

    def __init__(self, *, d_model: int, n_experts: int, top_k: int = 2,
                 gate_norm: Literal["renormalize", "none"] = "renormalize") -> None:
        super().__init__()
        _check_sizes(d_model, n_experts, top_k)
        if gate_norm not in ("renormalize", "none"):
            raise ValueError(f"gate_norm={gate_norm!r} is not one of 'renormalize', 'none'")
        self.n_experts, self.top_k, self.gate_norm = n_experts, top_k, gate_norm
        self.weight = nn.Parameter(switch_init_(torch.empty(n_experts, d_model), d_model))  # (K, D)

    def forward(self, x: torch.Tensor) -> Routing:
        logits = F.linear(x, self.weight)  # (N, K)
        probs = torch.softmax(logits.float(), dim=-1)
        values, indices = probs.topk(self.top_k, dim=-1)  # (N, k) each
        if self.gate_norm == "renormalize":
            values = values / values.sum(dim=-1, keepdim=True)
        return Routing(*_token_choice(values, indices), logits=logits, probs=probs, top_k=self.top_k)


class SwitchRouter(TopKRouter):
    """Switch Transformer routing: the single most probable expert, gated by its probability."""

    def __init__(self, *, d_model: int, n_experts: int) -> None:
        super().__init__(d_model=d_model, n_experts=n_experts, top_k=1, gate_norm="none")


class NoisyTopKRouter(nn.Module):
    """Shazeer et al. 2017 noisy top-k gating with the smooth load estimator (see the module docstring)."""

    noise_floor = 1e-2

    def __init__(self, *, d_model: int, n_experts: int, top_k: int = 2) -> None:
        super().__init__()
        _check_sizes(d_model, n_experts, top_k)
        if top_k == n_experts:
            raise ValueError(f"noisy top-k needs top_k={top_k} < n_experts={n_experts} (every expert is kept)")
        self.n_experts, self.top_k = n_experts, top_k
        self.weight = nn.Parameter(torch.zeros(n_experts, d_model))  # W_g (K, D)
        self.noise_weight = nn.Parameter(torch.zeros(n_experts, d_model))  # W_noise (K, D)

    def noise_std(self, x: torch.Tensor) -> torch.Tensor:
        """``softplus(x W_noise)`` plus the floor: (N, K)."""
        return F.softplus(F.linear(x, self.noise_weight).float()) + self.noise_floor

    def load_probability(self, clean: torch.Tensor, noisy: torch.Tensor, noise_std: torch.Tensor) -> torch.Tensor:
        """P(x, i) (N, K): probability that expert i is in the top k when only its noise is redrawn."""
        top = noisy.topk(self.top_k + 1, dim=-1).values  # (N, k+1)
        kth, k_plus_1th = top[:, self.top_k - 1 : self.top_k], top[:, self.top_k :]  # (N, 1) each
        in_top = noisy >= kth  # (N, K)
        threshold = torch.where(in_top, k_plus_1th, kth)  # (N, K): the k-th largest among the others
        return torch.special.ndtr((clean - threshold) / noise_std)

    def forward(self, x: torch.Tensor) -> Routing:
        clean = F.linear(x, self.weight).float()  # (N, K)
        std = self.noise_std(x)
        noisy = clean + torch.randn_like(clean) * std if self.training else clean
        top_values, indices = noisy.topk(self.top_k, dim=-1)  # (N, k) each
        gates = torch.softmax(top_values, dim=-1)
        load = self.load_probability(clean, noisy, std).sum(dim=0)  # (K,)
        return Routing(*_token_choice(gates, indices), logits=clean, probs=torch.softmax(clean, dim=-1),
                       top_k=self.top_k, load_estimate=load)


class ExpertChoiceRouter(nn.Module):
    """Zhou et al. 2022: every expert takes its ``ceil(N * capacity_factor / K)`` highest-scoring tokens."""

    def __init__(self, *, d_model: int, n_experts: int, capacity_factor: float = 1.0) -> None:
        super().__init__()
        _check_sizes(d_model, n_experts, 1)
        if not 0 < capacity_factor < math.inf:
            raise ValueError(f"capacity_factor={capacity_factor} must be > 0 and finite")
        self.n_experts, self.capacity_factor = n_experts, capacity_factor
        self.weight = nn.Parameter(switch_init_(torch.empty(n_experts, d_model), d_model))  # (K, D)

    def forward(self, x: torch.Tensor) -> Routing:
        logits = F.linear(x, self.weight)  # (N, K)
        probs = torch.softmax(logits.float(), dim=-1)
        n = x.shape[0]
        bucket = min(n, math.ceil(n * self.capacity_factor / self.n_experts))
        values, tokens = probs.t().topk(bucket, dim=-1)  # (K, c) each: each expert's chosen tokens
        experts = torch.arange(self.n_experts, device=x.device).repeat_interleave(bucket)  # (K*c,)
        return Routing(tokens.reshape(-1), experts, values.reshape(-1), logits=logits, probs=probs, top_k=0)


class BiasBalancedRouter(nn.Module):
    """Auxiliary-loss-free balancing: a bias on the scores steers selection only (see the module docstring)."""

    def __init__(self, *, d_model: int, n_experts: int, top_k: int = 1, gamma: float = 1e-3,
                 score: Literal["sigmoid", "softmax"] = "sigmoid") -> None:
        super().__init__()
        _check_sizes(d_model, n_experts, top_k)
        if gamma < 0:
            raise ValueError(f"gamma={gamma} must be >= 0")
        if score not in ("sigmoid", "softmax"):
            raise ValueError(f"score={score!r} is not one of 'sigmoid', 'softmax'")
        self.n_experts, self.top_k, self.gamma, self.score = n_experts, top_k, gamma, score
        self.weight = nn.Parameter(switch_init_(torch.empty(n_experts, d_model), d_model))  # (K, D)
        self.register_buffer("bias", torch.zeros(n_experts))  # b (K,): selection only, never a gate
        # (K,) loads counted since the last update; not a buffer, so that DistributedDataParallel's per-forward
        # broadcast of rank 0's buffers leaves each rank's own counts alone
        self.step_load: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> Routing:
        logits = F.linear(x, self.weight).float()  # (N, K)
        probs = torch.softmax(logits, dim=-1)
        scores = torch.sigmoid(logits) if self.score == "sigmoid" else probs  # s (N, K)
        indices = (scores + self.bias).topk(self.top_k, dim=-1).indices  # (N, k): selection with the bias
        values = scores.gather(1, indices)  # (N, k): gates from the unbiased scores
        if self.score == "sigmoid" and self.top_k > 1:
            values = values / values.sum(dim=-1, keepdim=True)
        routing = Routing(*_token_choice(values, indices), logits=logits, probs=probs, top_k=self.top_k)
        if self.training and self.gamma > 0:
            load = torch.bincount(routing.expert_index, minlength=self.n_experts).float()  # (K,)
            self.step_load = load if self.step_load is None else self.step_load + load
        return routing

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        """Apply the bias update for the loads counted since the last call (summed over ranks), then reset them."""
        if self.gamma > 0:
            load = torch.zeros_like(self.bias) if self.step_load is None else self.step_load
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(load)  # every rank takes part, also one that routed no tokens this step
            self.update_bias(load)
        self.step_load = None

    @torch.no_grad()
    def update_bias(self, load: torch.Tensor) -> None:
        """``b_i += gamma * sign(mean load - load_i)`` from the per-expert ``load`` (K,)."""
        self.bias += self.gamma * torch.sign(load.mean() - load)


def make_router(kind: RouterKind, *, d_model: int, n_experts: int, top_k: int, capacity_factor: float | None,
                bias_gamma: float = 1e-3, bias_score: Literal["sigmoid", "softmax"] = "sigmoid") -> nn.Module:
    """The router called ``kind`` (one of ``ROUTERS``)."""
    if kind == "topk":
        return TopKRouter(d_model=d_model, n_experts=n_experts, top_k=top_k)
    if kind == "switch":
        if top_k != 1:
            raise ValueError(f"router='switch' routes to one expert; got top_k={top_k}")
        return SwitchRouter(d_model=d_model, n_experts=n_experts)
    if kind == "noisy_topk":
        return NoisyTopKRouter(d_model=d_model, n_experts=n_experts, top_k=top_k)
    if kind == "expert_choice":
        return ExpertChoiceRouter(d_model=d_model, n_experts=n_experts, capacity_factor=capacity_factor or 1.0)
    if kind == "bias_balanced":
        return BiasBalancedRouter(d_model=d_model, n_experts=n_experts, top_k=top_k, gamma=bias_gamma,
                                  score=bias_score)
    raise ValueError(f"router={kind!r} is not one of {', '.join(ROUTERS)}")
