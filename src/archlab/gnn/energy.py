"""Dirichlet energy, the oversmoothing measure of Rusch, Bronstein, Mishra 2023 ("A Survey on Oversmoothing in
Graph Neural Networks", def. 3.1 with the node-average of Cai & Wang 2020):
``E(X) = (1 / N) Σ_i Σ_{j ∈ N(i)} ||X_i - X_j||²`` over the edges of ``edge_index``. It is 0 exactly when every
connected component carries one constant vector; oversmoothing is its exponential decay with depth.
"""

from __future__ import annotations

from torch import Tensor


def dirichlet_energy(x: Tensor, edge_index: Tensor) -> Tensor:
    """``E(X)`` of node features ``x`` ``(N, F)`` over the edges ``(2, E)``: a scalar."""
    source, target = edge_index
    differences = x.index_select(0, source) - x.index_select(0, target)  # (E, F)
    return differences.pow(2).sum() / x.shape[0]
