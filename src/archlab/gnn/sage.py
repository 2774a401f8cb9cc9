"""GraphSAGE convolution (Hamilton, Ying, Leskovec 2017, "Inductive Representation Learning on Large Graphs").

Algorithm 1 with the mean aggregator, in the form PyTorch Geometric's ``SAGEConv`` computes it:
``h'_i = W_l · mean_{j -> i} h_j + b + W_r · h_i`` (the paper concatenates ``[h_i, mean h_j]`` before one
``W``; two matrices on the two halves are the same map). ``lin_neighbours`` is ``W_l`` with bias ``b``,
``lin_root`` is ``W_r`` (``root_weight=False`` drops it), ``normalize=True`` is line 7's
``h_i / ||h_i||_2``. ``aggr`` may also be ``"sum"`` or ``"max"`` (elementwise max of raw neighbours, not the
paper's pooling aggregator with its own MLP). No self-loops are added: the root term plays their part.
The neighbour sampler that makes mini-batches of it is ``archlab.gnn.sampler``.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from archlab.gnn.message_passing import MessagePassing, check_edge_index


class SAGEConv(MessagePassing):
    """``(N, in_features) -> (N, out_features)``; see the module docstring."""

    def __init__(self, in_features: int, out_features: int, *, aggr: str = "mean", bias: bool = True,
                 root_weight: bool = True, normalize: bool = False) -> None:
        super().__init__(aggr=aggr)
        self.in_features, self.out_features = in_features, out_features
        self.root_weight, self.normalize = root_weight, normalize
        self.lin_neighbours = nn.Linear(in_features, out_features, bias=bias)
        self.lin_root = nn.Linear(in_features, out_features, bias=False) if root_weight else None

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        check_edge_index(edge_index, x.shape[0])
        return self.propagate(edge_index, x=x)

    def update(self, aggregated: Tensor, x: Tensor) -> Tensor:
        out = self.lin_neighbours(aggregated)  # (N, out_features)
        if self.lin_root is not None:
            out = out + self.lin_root(x)
        return F.normalize(out, p=2.0, dim=-1) if self.normalize else out
