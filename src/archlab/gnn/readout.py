"""Graph-level readout: one vector per graph from its nodes' vectors (Xu et al. 2019, eq. 4.2 uses the sum).

A mini-batch of graphs is one disjoint union: node features ``x`` ``(N, F)`` and ``batch`` ``(N,)``, the graph
each node belongs to (``0 .. G - 1``); the readout reduces the nodes of each graph, ``(N, F) -> (G, F)``, with
``archlab.core.scatter``. A graph with no nodes reads 0.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from archlab.core.scatter import scatter
from archlab.core.validation import check_choices

READOUTS = ("sum", "mean", "max")


def global_pool(x: Tensor, batch: Tensor, num_graphs: Optional[int] = None, *, reduce: str = "sum") -> Tensor:
    """``(N, F), (N,) -> (G, F)``: the sum, mean or max of each graph's node features."""
    check_choices(dict(reduce=reduce), dict(reduce=READOUTS), quote=True)
    return scatter(x, batch, num_graphs, reduce=reduce)
