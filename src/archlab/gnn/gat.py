"""Graph attention (Velickovic et al. 2018, "Graph Attention Networks").

Eqs. 1-4 and 5-6 with ``H`` heads of width ``C``, in the form of PyTorch Geometric's ``GATConv``: each head
projects ``z_i = W h_i`` (``lin``, ``(N, F) -> (N, H, C)``), scores every edge ``j -> i`` (loops added) by
``e_ij = LeakyReLU(a_dst · z_i + a_src · z_j)`` (the paper's ``a^T [W h_i || W h_j]`` split into its two
halves, ``att_dst`` and ``att_src``), normalises the scores over ``i``'s in-edges,
``α_ij = softmax_j(e_ij)`` (``scatter_softmax``), drops them out during training, and sums
``h'_i = Σ_j α_ij z_j``. Heads are concatenated (``concat=True``, ``(N, H·C)``) or averaged (eq. 6, ``(N, C)``),
then ``bias`` is added; ``residual=True`` adds a linear map of the input first (a later PyG option).

``forward(..., return_attention=True)`` returns a ``GATOutput`` with the edges attention ran over (loops
included) and ``α`` per edge and head ``(E', H)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from archlab.core.scatter import scatter_softmax
from archlab.core.validation import check_at_least
from archlab.gnn.graph_ops import add_self_loops, remove_self_loops
from archlab.gnn.message_passing import MessagePassing, check_edge_index


@dataclass
class GATOutput:
    """The layer's output ``hidden`` ``(N, H·C)`` or ``(N, C)``, and the attention ``attention`` ``(E', H)`` over
    the edges ``edge_index`` ``(2, E')`` it attended along."""

    hidden: Tensor
    edge_index: Tensor
    attention: Tensor


class GATConv(MessagePassing):
    """Multi-head graph attention; see the module docstring."""

    def __init__(self, in_features: int, out_features: int, *, heads: int = 1, concat: bool = True,
                 negative_slope: float = 0.2, dropout: float = 0.0, add_self_loops: bool = True, bias: bool = True,
                 residual: bool = False) -> None:
        super().__init__(aggr="sum")
        check_at_least(dict(heads=heads), 1)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout} must be in [0, 1)")
        self.in_features, self.out_features, self.heads, self.concat = in_features, out_features, heads, concat
        self.negative_slope, self.dropout, self.add_self_loops = negative_slope, dropout, add_self_loops
        width = heads * out_features if concat else out_features
        self.lin = nn.Linear(in_features, heads * out_features, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_features))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_features))
        self.res = nn.Linear(in_features, width, bias=False) if residual else None
        self.bias = nn.Parameter(torch.zeros(width)) if bias else None
        for p in (self.lin.weight, self.att_src, self.att_dst):  # Glorot & Bengio 2010, as the paper's code
            nn.init.xavier_uniform_(p)

    def forward(self, x: Tensor, edge_index: Tensor, *, return_attention: bool = False
                ) -> Union[Tensor, GATOutput]:
        n = x.shape[0]
        check_edge_index(edge_index, n)
        z = self.lin(x).view(n, self.heads, self.out_features)  # (N, H*C) -> (N, H, C)
        score_src = (z * self.att_src).sum(dim=-1)  # (N, H)
        score_dst = (z * self.att_dst).sum(dim=-1)  # (N, H)
        if self.add_self_loops:
            edge_index, _ = remove_self_loops(edge_index)
            edge_index, _ = add_self_loops(edge_index, n)
        source, target = edge_index  # (E',) each
        logits = F.leaky_relu(score_src.index_select(0, source) + score_dst.index_select(0, target),
                              self.negative_slope)  # (E', H): e_ij of edge j -> i
        attention = scatter_softmax(logits, target, n)  # (E', H): α_ij over each target's in-edges
        alpha = F.dropout(attention, p=self.dropout, training=self.training)
        out = self.propagate(edge_index, z=z, edge_alpha=alpha)  # (N, H, C)
        out = out.reshape(n, -1) if self.concat else out.mean(dim=1)  # (N, H, C) -> (N, H*C) or (N, C)
        if self.res is not None:
            out = out + self.res(x)
        if self.bias is not None:
            out = out + self.bias
        return GATOutput(out, edge_index, attention) if return_attention else out

    def message(self, z_j: Tensor, edge_alpha: Tensor) -> Tensor:
        return edge_alpha[:, :, None] * z_j  # (E', H, 1) * (E', H, C)
