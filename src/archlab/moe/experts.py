"""SwiGLU experts stored as stacked weights, applied to token groups with one grouped matmul per projection.

Each expert is the SwiGLU feed-forward of Shazeer 2020, ``down_e(silu(gate_e x) * up_e x)``. The K experts'
weights are stacked in the layout of transformers' ``MixtralExperts``: ``gate_up_proj`` (K, 2F, D) holds the
gate rows then the up rows of each expert, ``down_proj`` (K, D, F); converted Mixtral weights need no reshaping.

``grouped_matmul`` multiplies the contiguous row slices of a matrix sorted by expert, one slice per expert,
by that expert's weight: ``torch.nn.functional.grouped_mm`` where this torch has it (one kernel call), else a
loop over the K experts (never over tokens). Without autograd on the CPU (inference), ``SwiGLUExperts`` runs one
expert at a time instead, with the SwiGLU done in place on that expert's slice and its result written straight into
the output, which keeps the intermediates in cache (timed in the ``moe-layer`` benchmark). ``forward_ref`` is the plain per-assignment formula
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
    w = weight.transpose(1, 2)  # (K, Out, In) -> (K, In, Out)
    if x.shape[0] == 0:  # an empty product, still in the autograd graph (expert parallelism's backward needs it)
        return x @ w[0]  # (0, Out)
    if _GROUPED_MM is not None and x.dtype in (torch.float32, torch.bfloat16) and x.dtype == weight.dtype:
        offsets = counts.cumsum(0).to(torch.int32)  # (K,) end of each expert's rows
        return _GROUPED_MM(x, w, offs=offsets)
    pieces = [xe @ w[e] for e, xe in enumerate(x.split(counts.tolist())) if xe.shape[0]]  # each (S_e, Out)
    return torch.cat(pieces)


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
        needs_grad = torch.is_grad_enabled() and (
            x_sorted.requires_grad or self.gate_up_proj.requires_grad or self.down_proj.requires_grad)
        if not needs_grad and x_sorted.device.type == "cpu":
            return self._forward_per_expert(x_sorted, counts)
        gate, up = grouped_matmul(x_sorted, self.gate_up_proj, counts).chunk(2, dim=-1)  # (S, F) each
        return grouped_matmul(F.silu(gate) * up, self.down_proj, counts)

    def _forward_per_expert(self, x_sorted: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Without autograd on the CPU: one expert at a time, its (S_e, 2F) intermediate reused in place for the
        SwiGLU and its result written straight into the output, so the intermediates stay in cache."""
        out = torch.empty_like(x_sorted)  # (S, D)
        w_in, w_out = self.gate_up_proj.transpose(1, 2), self.down_proj.transpose(1, 2)  # (K, D, 2F), (K, F, D)
        sizes = counts.tolist()
        for e, (xe, ye) in enumerate(zip(x_sorted.split(sizes), out.split(sizes))):
            if xe.shape[0]:
                gate, up = torch.mm(xe, w_in[e]).chunk(2, dim=-1)  # (S_e, F) each
                torch.mm(F.silu(gate, inplace=True).mul_(up), w_out[e], out=ye)
        return out

    def forward_ref(self, x: torch.Tensor, expert_index: torch.Tensor) -> torch.Tensor:
        """Each row of ``x`` (S, D) through its own expert ``expert_index`` (S,), in any order -> (S, D)."""
        gate_up = torch.einsum("sfd,sd->sf", self.gate_up_proj[expert_index], x)  # (S, 2F)
        gate, up = gate_up.chunk(2, dim=-1)  # (S, F) each
        return torch.einsum("sdf,sf->sd", self.down_proj[expert_index], F.silu(gate) * up)  # (S, D)

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        """Expert ``e`` alone on ``x`` (..., D) -> (..., D)."""
        gate, up = F.linear(x, self.gate_up_proj[e]).chunk(2, dim=-1)  # (..., F) each
        return F.linear(F.silu(gate) * up, self.down_proj[e])
