"""Graph convolution (Kipf & Welling 2017, "Semi-Supervised Classification with Graph Convolutional Networks").

Eq. 2 of the paper: ``H' = D̃^{-1/2} Ã D̃^{-1/2} H W + b`` with ``Ã = A + I`` (``archlab.gnn.graph_ops``); in
code ``lin`` is ``W`` (no bias inside), ``bias`` is ``b``, and a node ``i`` receives
``sum_{j -> i} w_ji / sqrt(d̃_j d̃_i) * (H W)_j``. Options as PyTorch Geometric's ``GCNConv`` names them:
``normalize=False`` sums raw (weighted) neighbours (and needs ``add_self_loops=False``),
``add_self_loops=False`` normalises
``A`` itself, ``improved=True`` uses ``Ã = A + 2I``, ``cached=True`` keeps the graph's normalisation from the
first call (transductive training on one fixed graph).

Two equal paths. ``forward_ref`` is the readable one: ``gcn_norm`` gives a weight per edge and ``propagate``
gathers ``(H W)_j`` per edge, scales it and scatter-adds it at the target. ``forward`` is the fast one for
the common unweighted graph: the symmetric weight factorises, ``w_ji = d̃_j^{-1/2} d̃_i^{-1/2}``, so the
features are scaled once per node before the gather and once per node after the scatter, the self-loop is
added per node without being written into the edge list, and the per-edge multiply (an ``(E, F)`` pass over
memory) disappears; a graph with edge weights keeps one per-edge scale. Tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from archlab.gnn.graph_ops import gcn_norm, inverse_sqrt
from archlab.gnn.message_passing import MessagePassing, check_edge_index


@dataclass
class GCNPlan:
    """How to aggregate over one graph: ``out = post * index_add(target, (pre * H)[source] * edge_scale) +
    loop * H``. ``pre``, ``post`` and ``loop`` are ``(N, 1)`` (or None for 1, 1, 0), ``edge_scale`` ``(E, 1)``
    or None."""

    source: Tensor
    target: Tensor
    pre: Optional[Tensor]
    post: Optional[Tensor]
    loop: Optional[Tensor]
    edge_scale: Optional[Tensor]


def gcn_plan(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None, *, normalize: bool = True,
             add_loops: bool = True, improved: bool = False, dtype: torch.dtype = torch.float32) -> GCNPlan:
    """The aggregation plan of a graph under GCN's options (see ``GCNPlan``)."""
    if edge_weight is not None:
        if normalize:
            edge_index, edge_weight = gcn_norm(edge_index, num_nodes, edge_weight, add_loops=add_loops,
                                               improved=improved, dtype=dtype)
        return GCNPlan(edge_index[0], edge_index[1], None, None, None, edge_weight.to(dtype)[:, None])
    source, target = edge_index[0], edge_index[1]
    if not normalize:
        return GCNPlan(source, target, None, None, None, None)
    fill = 2.0 if improved else 1.0
    if add_loops:
        keep = source != target  # the graph's own loops are replaced by one loop per node
        source, target = source[keep], target[keep]
    degree = torch.bincount(target, minlength=num_nodes).to(dtype) + (fill if add_loops else 0.0)  # (N,)
    scale = inverse_sqrt(degree)[:, None]  # (N, 1)
    loop = fill * scale * scale if add_loops else None
    return GCNPlan(source, target, scale, scale, loop, None)


def gcn_aggregate(h: Tensor, plan: GCNPlan) -> Tensor:
    """``Â H`` for node features ``h`` ``(N, F)`` under ``plan``: ``(N, F)``."""
    scaled = h if plan.pre is None else h * plan.pre
    messages = scaled.index_select(0, plan.source)  # (E, F)
    if plan.edge_scale is not None:
        messages = messages * plan.edge_scale
    out = torch.zeros_like(h).index_add_(0, plan.target, messages)  # (N, F)
    if plan.post is not None:
        out = out * plan.post
    if plan.loop is not None:
        out = out + plan.loop * h
    return out


class GCNConv(MessagePassing):
    """One graph convolution ``(N, in_features) -> (N, out_features)``; see the module docstring."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, normalize: bool = True,
                 add_self_loops: bool = True, improved: bool = False, cached: bool = False) -> None:
        super().__init__(aggr="sum")
        if add_self_loops and not normalize:
            raise ValueError("add_self_loops=True needs normalize=True (loops are part of the normalised Ã); "
                             "pass add_self_loops=False with normalize=False")
        self.in_features, self.out_features = in_features, out_features
        self.normalize, self.add_self_loops, self.improved, self.cached = normalize, add_self_loops, improved, cached
        self.lin = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.xavier_uniform_(self.lin.weight)  # Glorot & Bengio 2010, as Kipf & Welling initialise W
        self._plan: Optional[GCNPlan] = None

    def plan(self, edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor], dtype: torch.dtype) -> GCNPlan:
        """The aggregation plan of this graph (the first one, kept, when ``cached``)."""
        if self.cached and self._plan is not None:
            return self._plan
        check_edge_index(edge_index, num_nodes)
        plan = gcn_plan(edge_index, num_nodes, edge_weight, normalize=self.normalize,
                        add_loops=self.add_self_loops, improved=self.improved, dtype=dtype)
        if self.cached:
            self._plan = plan
        return plan

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor] = None, *,
                plan: Optional[GCNPlan] = None) -> Tensor:
        """``plan``, when given, is this graph's ``gcn_plan`` under this layer's options, made once by a caller
        that runs several layers over one graph (``edge_index`` and ``edge_weight`` are then not read)."""
        h = self.lin(x)  # (N, out_features)
        out = gcn_aggregate(h, plan or self.plan(edge_index, x.shape[0], edge_weight, h.dtype))
        return out if self.bias is None else out + self.bias

    def forward_ref(self, x: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor] = None) -> Tensor:
        """The readable path: a weight per edge from ``gcn_norm``, then ``propagate``."""
        h = self.lin(x)  # (N, out_features)
        if self.normalize:
            edge_index, edge_weight = gcn_norm(edge_index, x.shape[0], edge_weight, add_loops=self.add_self_loops,
                                               improved=self.improved, dtype=h.dtype)
        elif edge_weight is None:
            edge_weight = h.new_ones(edge_index.shape[1])
        out = self.propagate(edge_index, x=h, edge_weight=edge_weight)
        return out if self.bias is None else out + self.bias

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight[:, None] * x_j  # (E, F)
