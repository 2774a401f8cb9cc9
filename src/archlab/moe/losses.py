"""Auxiliary router losses and imbalance metrics.

- ``switch_load_balancing_loss``: Fedus et al. 2022 (Switch Transformers), eqs. 4-6,
  ``alpha * K * sum_i f_i * P_i`` with ``f_i`` the fraction of assignments dispatched to expert i (hard counts,
  no gradient) and ``P_i`` the mean router probability of expert i (differentiable). Minimised by uniform
  routing, where it equals ``alpha``. For top-k routing ``f`` counts all N*k assignments, so the uniform value
  stays ``alpha``.
- ``importance_loss`` and ``load_loss``: Shazeer et al. 2017, ``w * CV(X)^2`` with ``CV = std / mean`` over
  experts (population variance), X the importance ``sum_x G(x)`` or the smooth load estimate.
- ``router_z_loss``: Zoph et al. 2022 (ST-MoE), eq. 5, ``(1/N) sum_x (logsumexp_j z_j(x))^2``.
- ``max_violation``: MaxVio of Wang et al. 2024, ``max_i load_i / mean(load) - 1``.
"""

from __future__ import annotations

import torch


def expert_counts(expert_index: torch.Tensor, n_experts: int) -> torch.Tensor:
    """Assignments per expert, (K,) float."""
    return torch.bincount(expert_index, minlength=n_experts).float()


def switch_load_balancing_loss(probs: torch.Tensor, expert_index: torch.Tensor, *, alpha: float = 1e-2) -> torch.Tensor:
    """``alpha * K * sum_i f_i P_i`` for router probabilities ``probs`` (N, K) and assignments ``expert_index`` (S,)."""
    n_experts = probs.shape[-1]
    f = expert_counts(expert_index, n_experts) / max(expert_index.numel(), 1)  # (K,) hard fractions
    p = probs.mean(dim=0)  # (K,) mean probabilities
    return alpha * n_experts * torch.sum(f * p)


def cv_squared(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Squared coefficient of variation ``var(x) / mean(x)^2`` of a vector (population variance)."""
    x = x.float()
    return x.var(unbiased=False) / (x.mean() ** 2 + eps)


def importance(gate: torch.Tensor, expert_index: torch.Tensor, n_experts: int) -> torch.Tensor:
    """``Importance_i = sum_x G(x)_i``: the gates of the assignments summed per expert, (K,)."""
    return torch.zeros(n_experts, dtype=gate.dtype, device=gate.device).index_add(0, expert_index, gate)


def importance_loss(gate: torch.Tensor, expert_index: torch.Tensor, n_experts: int, *, w: float = 0.1) -> torch.Tensor:
    """Shazeer's ``w_importance * CV(Importance)^2``."""
    return w * cv_squared(importance(gate, expert_index, n_experts))


def load_loss(load_estimate: torch.Tensor, *, w: float = 0.1) -> torch.Tensor:
    """Shazeer's ``w_load * CV(Load)^2`` of the smooth load estimate (K,)."""
    return w * cv_squared(load_estimate)


def router_z_loss(logits: torch.Tensor) -> torch.Tensor:
    """ST-MoE's z-loss: the mean over tokens of ``logsumexp(logits)^2``; ``logits`` (N, K)."""
    return torch.logsumexp(logits.float(), dim=-1).pow(2).mean()


def max_violation(load: torch.Tensor) -> float:
    """MaxVio ``max_i load_i / mean(load) - 1`` of per-expert loads (K,)."""
    load = load.float()
    return float(load.max() / load.mean() - 1)


def coefficient_of_variation(load: torch.Tensor) -> float:
    """``std / mean`` of per-expert loads (K,), population standard deviation."""
    load = load.float()
    return float(load.std(unbiased=False) / load.mean())
