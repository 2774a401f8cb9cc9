"""Edge-list operations the layers share: self-loops, degrees and GCN's symmetric normalisation.

GCN (Kipf & Welling 2017, eq. 2) propagates with ``D̃^{-1/2} Ã D̃^{-1/2}`` where ``Ã = A + I`` adds a self-loop to
every node and ``D̃_ii = sum_j Ã_ij``. As in PyTorch Geometric's ``gcn_norm``, loops already in the graph are
replaced by exactly one loop per node (weight ``fill``, 1, or 2 for the "improved" ``Ã = A + 2I``; an existing
loop keeps its own weight when edge weights are given; PyG 2.8 gives unweighted graphs loops of weight 1
even when ``improved``, archlab the documented 2), duplicate edges count once each, and ``D̃`` is the
weighted in-degree at the target, so a directed edge list is normalised as PyG normalises it.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from archlab.core.scatter import scatter_sum


def remove_self_loops(edge_index: Tensor, edge_weight: Optional[Tensor] = None) -> tuple[Tensor, Optional[Tensor]]:
    """The edges that are not loops ``i -> i`` (and their weights)."""
    keep = edge_index[0] != edge_index[1]  # (E,)
    return edge_index[:, keep], None if edge_weight is None else edge_weight[keep]


def add_self_loops(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None,
                   fill: float = 1.0) -> tuple[Tensor, Optional[Tensor]]:
    """``edge_index`` followed by one loop per node ``(2, E + N)``; loop weights ``fill``."""
    loops = torch.arange(num_nodes, device=edge_index.device).expand(2, num_nodes)  # (2, N)
    if edge_weight is None:
        return torch.cat([edge_index, loops], dim=1), None
    return torch.cat([edge_index, loops], dim=1), torch.cat([edge_weight, edge_weight.new_full((num_nodes,), fill)])


def add_remaining_self_loops(edge_index: Tensor, num_nodes: int, edge_weight: Tensor,
                             fill: float = 1.0) -> tuple[Tensor, Tensor]:
    """One loop per node: the graph's own loops are replaced, each keeping its weight; missing ones get ``fill``."""
    is_loop = edge_index[0] == edge_index[1]  # (E,)
    loop_weight = edge_weight.new_full((num_nodes,), fill)
    loop_weight[edge_index[0, is_loop]] = edge_weight[is_loop]
    loops = torch.arange(num_nodes, device=edge_index.device).expand(2, num_nodes)  # (2, N)
    return (torch.cat([edge_index[:, ~is_loop], loops], dim=1),
            torch.cat([edge_weight[~is_loop], loop_weight]))


def inverse_sqrt(degree: Tensor) -> Tensor:
    """``degree^{-1/2}``, 0 where the degree is 0 (a node nothing points to)."""
    out = degree.rsqrt()
    return out.masked_fill(degree == 0, 0.0)


def gcn_norm(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None, *,
             add_loops: bool = True, improved: bool = False, dtype: torch.dtype = torch.float32
             ) -> tuple[Tensor, Tensor]:
    """The edges of ``Ã`` and their weights ``w_ji / sqrt(d̃_j d̃_i)`` (``d̃`` the weighted in-degree at the
    target), as ``((2, E'), (E',))``."""
    unweighted = edge_weight is None
    if unweighted:
        edge_weight = torch.ones(edge_index.shape[1], dtype=dtype, device=edge_index.device)
    if add_loops and unweighted:
        edge_index, _ = remove_self_loops(edge_index)
        edge_index, edge_weight = add_self_loops(edge_index, num_nodes, edge_weight[: edge_index.shape[1]],
                                                 2.0 if improved else 1.0)
    elif add_loops:
        edge_index, edge_weight = add_remaining_self_loops(edge_index, num_nodes, edge_weight,
                                                           2.0 if improved else 1.0)
    source, target = edge_index
    d = inverse_sqrt(scatter_sum(edge_weight, target, num_nodes))  # (N,)
    return edge_index, d[source] * edge_weight * d[target]
