"""Graph isomorphism network layer (Xu, Hu, Leskovec, Jegelka 2019, "How Powerful are Graph Neural Networks?").

Eq. 4.1: ``h'_v = MLP((1 + ε) · h_v + Σ_{u ∈ N(v)} h_u)``. The neighbours are **summed**: a sum over a multiset
is injective (Lemma 5; mean sees only proportions, max only the set), which is what makes GIN as powerful
as the 1-WL test. ``mlp`` is any module ``(N, F) -> (N, F')``; ``eps`` is ``ε``, a fixed buffer (GIN-0 with the
default 0) or a parameter with ``train_eps=True``. ``aggr`` other than ``"sum"`` exists for the expressivity
claim's counter-examples (``gnn.wl-expressivity``), a mean- or max-"GIN" that is not injective.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from archlab.gnn.message_passing import MessagePassing, check_edge_index


class GINConv(MessagePassing):
    """``mlp((1 + eps) x + aggregate of neighbours)``; see the module docstring."""

    def __init__(self, mlp: nn.Module, *, eps: float = 0.0, train_eps: bool = False, aggr: str = "sum") -> None:
        super().__init__(aggr=aggr)
        self.mlp = mlp
        if train_eps:
            self.eps = nn.Parameter(torch.tensor([float(eps)]))
        else:
            self.register_buffer("eps", torch.tensor([float(eps)]))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        check_edge_index(edge_index, x.shape[0])
        return self.propagate(edge_index, x=x)

    def update(self, aggregated: Tensor, x: Tensor) -> Tensor:
        return self.mlp((1 + self.eps) * x + aggregated)


def gin_mlp(in_features: int, out_features: int, hidden: int | None = None) -> nn.Sequential:
    """The two-layer perceptron of the paper's experiments (Linear, BatchNorm, ReLU, Linear)."""
    hidden = hidden or out_features
    return nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, out_features))
