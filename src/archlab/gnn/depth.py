"""What keeps deep graph networks from oversmoothing: PairNorm, GCNII's initial residual with identity mapping,
and jumping knowledge.

- ``PairNorm`` (Zhao & Akoglu 2020, "PairNorm: Tackling Oversmoothing in GNNs", eqs. 3-4): centre the node
  features, ``x̃_i = x_i - mean_j x_j``, then rescale so that the mean squared row norm is ``s²``:
  ``x̂_i = s · x̃_i / sqrt(ε + mean_j ||x̃_j||²)``, which keeps the total pairwise squared distance constant
  (``scale`` is ``s``; ``individually=True`` is the PN-SI variant, each row to norm ``s``).
- ``GCNIIConv`` (Chen, Wei, Huang, Ding, Li 2020, "Simple and Deep Graph Convolutional Networks", eq. 5):
  ``H^{(l+1)} = ((1 - α) Â H^{(l)} + α H^{(0)}) ((1 - β_l) I + β_l W^{(l)})`` with ``β_l = log(λ / l + 1)``;
  ``alpha`` is ``α``, ``theta`` is ``λ``, ``layer`` is ``l`` (from 1), ``weight`` is ``W^{(l)}``; ``Â`` is GCN's
  normalised adjacency with loops (``archlab.gnn.gcn``). The activation is applied by the caller.
- ``JumpingKnowledge`` (Xu et al. 2018, "Representation Learning on Graphs with Jumping Knowledge Networks"):
  the node's representations of all layers combined at the end by concatenation, an elementwise max, or
  the last one alone.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from archlab.core.validation import check_at_least, check_choices, check_positive
from archlab.gnn.gcn import GCNPlan, gcn_aggregate, gcn_plan
from archlab.gnn.message_passing import check_edge_index

JK_MODES = ("last", "cat", "max")


class PairNorm(nn.Module):
    """``(N, F) -> (N, F)``: centre over the nodes, then rescale; see the module docstring."""

    def __init__(self, *, scale: float = 1.0, individually: bool = False, eps: float = 1e-5) -> None:
        super().__init__()
        check_positive(dict(scale=scale))
        self.scale, self.individually, self.eps = scale, individually, eps

    def forward(self, x: Tensor) -> Tensor:
        centred = x - x.mean(dim=0, keepdim=True)  # (N, F)
        if self.individually:
            return self.scale * centred / (self.eps + centred.pow(2).sum(dim=-1, keepdim=True)).sqrt()
        return self.scale * centred / (self.eps + centred.pow(2).sum(dim=-1).mean()).sqrt()


class GCNIIConv(nn.Module):
    """One GCNII layer ``(N, F), (N, F) -> (N, F)`` (``x``, then the initial representation ``x0``)."""

    def __init__(self, features: int, *, alpha: float = 0.1, theta: float = 0.5, layer: int = 1) -> None:
        super().__init__()
        check_at_least(dict(features=features, layer=layer), 1)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha={alpha} must be in [0, 1]")
        check_positive(dict(theta=theta))
        self.alpha, self.beta = alpha, math.log(theta / layer + 1)
        self.weight = nn.Parameter(torch.empty(features, features))
        nn.init.xavier_uniform_(self.weight)  # Glorot, as the paper's code initialises W^(l)

    def forward(self, x: Tensor, x0: Tensor, edge_index: Tensor, *, plan: Optional[GCNPlan] = None) -> Tensor:
        """``plan``: the graph's ``gcn_plan``, made once by a caller running several layers (optional)."""
        if plan is None:
            check_edge_index(edge_index, x.shape[0])
            plan = gcn_plan(edge_index, x.shape[0], dtype=x.dtype)
        smoothed = gcn_aggregate(x, plan)  # Â H^(l): (N, F)
        support = (1 - self.alpha) * smoothed + self.alpha * x0  # (N, F)
        return (1 - self.beta) * support + self.beta * (support @ self.weight)


class JumpingKnowledge(nn.Module):
    """Combine the per-layer representations ``[(N, F)] * L`` into ``(N, F)`` (``last``, ``max``) or
    ``(N, L·F)`` (``cat``)."""

    def __init__(self, mode: str = "last") -> None:
        super().__init__()
        check_choices(dict(mode=mode), dict(mode=JK_MODES), quote=True)
        self.mode = mode

    def forward(self, layers: list[Tensor]) -> Tensor:
        if self.mode == "last":
            return layers[-1]
        if self.mode == "cat":
            return torch.cat(layers, dim=-1)  # L x (N, F) -> (N, L*F)
        return torch.stack(layers, dim=0).amax(dim=0)  # (L, N, F) -> (N, F)
