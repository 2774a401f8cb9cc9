"""SwiGLU experts stored as stacked weights, applied to token groups with one grouped matmul per projection.

Each expert is the SwiGLU feed-forward of Shazeer 2020, ``down_e(silu(gate_e x) * up_e x)``. The K experts'
weights are stacked in the layout of transformers' ``MixtralExperts``: ``gate_up_proj`` (K, 2F, D) holds the
gate rows then the up rows of each expert, ``down_proj`` (K, D, F); converted Mixtral weights need no reshaping.

``grouped_matmul`` multiplies the contiguous row slices of a matrix sorted by expert, one slice per expert,
by that expert's weight: ``torch.nn.functional.grouped_mm`` where this torch has it (one kernel call), else a
loop over the K experts (never over tokens). ``SwiGLUExperts.forward_ref`` is the plain per-assignment formula
(each row's expert weights gathered and applied with an einsum), which tests hold equal to the grouped path.

Initialisation: truncated normal with ``std = sqrt(s / fan_in)`` and ``s = 0.1`` (Fedus et al. 2022, Switch
Transformers, Sec. 2.4: "reduce the default Transformer initialization scale s = 1.0 by a factor of 10").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_GROUPED_MM = getattr(F, "grouped_mm", None)


def switch_init_(weight: torch.Tensor, fan_in: int, *, scale: float = 0.1) -> torch.Tensor:
    """Truncated normal (at two standard deviations) with ``std = sqrt(scale / fan_in)`` (Switch, Sec. 2.4)."""
    std = math.sqrt(scale / fan_in)
    return nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def grouped_matmul(x: torch.Tensor, weight: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``x`` (S, In) sorted by expert, ``counts`` (K,) rows per expert, ``weight`` (K, Out, In) -> (S, Out).

    Rows ``[offset_e, offset_e + counts_e)`` are multiplied by ``weight[e].T``.
    """
    if x.shape[0] == 0:
        return x.new_zeros(0, weight.shape[1])
    w = weight.transpose(1, 2)  # (K, Out, In) -> (K, In, Out)
    if _GROUPED_MM is not None and x.dtype in (torch.float32, torch.bfloat16) and x.dtype == weight.dtype:
        offsets = counts.cumsum(0).to(torch.int32)  # (K,) end of each expert's rows
        return _GROUPED_MM(x, w, offs=offsets)
    pieces = [xe @ w[e] for e, xe in enumerate(x.split(counts.tolist())) if xe.shape[0]]  # each (S_e, Out)
    return torch.cat(pieces) if pieces else x.new_zeros(0, weight.shape[1])


class SwiGLUExperts(nn.Module):
    """K SwiGLU experts of width ``d_expert`` on ``d_model`` features, weights stacked (Mixtral layout)."""

    def __init__(self, *, d_model: int, d_expert: int, n_experts: int) -> None:
        super().__init__()
        if min(d_model, d_expert, n_experts) < 1:
            raise ValueError(f"d_model={d_model}, d_expert={d_expert}, n_experts={n_experts} must all be >= 1")
        self.d_model, self.d_expert, self.n_experts = d_model, d_expert, n_experts
        self.gate_up_proj = nn.Parameter(torch.empty(n_experts, 2 * d_expert, d_model))  # (K, 2F, D)
        self.down_proj = nn.Parameter(torch.empty(n_experts, d_model, d_expert))  # (K, D, F)
        switch_init_(self.gate_up_proj, d_model)
        switch_init_(self.down_proj, d_expert)

    def forward(self, x_sorted: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Rows ``x_sorted`` (S, D) grouped by expert with ``counts`` (K,) rows each -> (S, D)."""
        gate, up = grouped_matmul(x_sorted, self.gate_up_proj, counts).chunk(2, dim=-1)  # (S, F) each
        return grouped_matmul(F.silu(gate) * up, self.down_proj, counts)

    def forward_ref(self, x: torch.Tensor, expert_index: torch.Tensor) -> torch.Tensor:
        """Each row of ``x`` (S, D) through its own expert ``expert_index`` (S,), in any order -> (S, D)."""
        gate_up = torch.einsum("sfd,sd->sf", self.gate_up_proj[expert_index], x)  # (S, 2F)
        gate, up = gate_up.chunk(2, dim=-1)  # (S, F) each
        return torch.einsum("sdf,sf->sd", self.down_proj[expert_index], F.silu(gate) * up)  # (S, D)

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        """Expert ``e`` alone on ``x`` (..., D) -> (..., D)."""
        gate, up = F.linear(x, self.gate_up_proj[e]).chunk(2, dim=-1)  # (..., F) each
        return F.linear(F.silu(gate) * up, self.down_proj[e])
