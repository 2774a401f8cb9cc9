"""Scatter (segment) reductions over an index: the aggregation step of message passing.

Given values ``src`` of shape ``(E, *F)`` (one row per edge, any trailing feature shape) and ``index`` of
shape ``(E,)`` naming the output row of each value (the edge's target node), each reduction returns
``(dim_size, *F)``: row ``i`` reduces the values whose index is ``i``. An output row that receives no value
(an isolated node) is 0 for every reduction, as in PyTorch Geometric's ``torch_geometric.utils.scatter``.
``scatter_softmax`` returns ``(E, *F)``: a softmax over the values that share an index (GAT's attention over
a node's in-edges, Velickovic et al. 2018, eq. 3).

All of them are differentiable through torch's own ``index_add`` / ``scatter_reduce`` / ``index_select``
(autograd, any device). Beside each sits a dense ``*_ref`` that builds the ``(dim_size, E)`` one-hot
assignment matrix ``M`` (``M[i, e] = 1`` when ``index[e] == i``) and reduces with plain dense operations: the
readable definition, quadratic in memory, that the tests hold the fast versions to.

``segment_sum_csr`` reduces rows already sorted by index, given CSR row pointers ``indptr`` (``(dim_size + 1,)``),
the layout a cached graph keeps (``torch.segment_reduce`` underneath).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from archlab.core.validation import check_choices


def _dim_size(index: Tensor, dim_size: Optional[int]) -> int:
    if dim_size is not None:
        return dim_size
    return int(index.max()) + 1 if index.numel() else 0


def _check(src: Tensor, index: Tensor) -> None:
    if index.dim() != 1 or src.dim() < 1 or index.shape[0] != src.shape[0]:
        raise ValueError(f"index of shape {tuple(index.shape)} must be 1-D with one entry per row of src "
                         f"{tuple(src.shape)}")


def _broadcast(values: Tensor, like: Tensor) -> Tensor:
    """``values`` of shape ``(R,)`` viewed as ``(R, 1, ..., 1)`` to broadcast against ``like`` ``(R, *F)``."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def scatter_sum(src: Tensor, index: Tensor, dim_size: Optional[int] = None) -> Tensor:
    """``out[i] = sum of src[e] over e with index[e] == i``; ``(E, *F) -> (dim_size, *F)``."""
    _check(src, index)
    out = src.new_zeros((_dim_size(index, dim_size), *src.shape[1:]))
    return out.index_add(0, index, src)


def scatter_count(index: Tensor, dim_size: Optional[int] = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """How many entries of ``index`` name each row: ``(dim_size,)`` (a node's in-degree for target indices)."""
    return torch.bincount(index, minlength=_dim_size(index, dim_size)).to(dtype)


def scatter_mean(src: Tensor, index: Tensor, dim_size: Optional[int] = None) -> Tensor:
    """The mean of the values sent to each row (0 where none is sent)."""
    total = scatter_sum(src, index, dim_size)
    count = scatter_count(index, total.shape[0], src.dtype).clamp_min(1)
    return total / _broadcast(count, total)


def scatter_max(src: Tensor, index: Tensor, dim_size: Optional[int] = None) -> Tensor:
    """The elementwise maximum of the values sent to each row (0 where none is sent). Gradients of tied
    maxima are shared evenly among them (torch's ``scatter_reduce`` rule)."""
    _check(src, index)
    size = _dim_size(index, dim_size)
    out = src.new_zeros((size, *src.shape[1:]))
    expanded = _broadcast(index, src).expand_as(src)  # (E,) -> (E, *F)
    return out.scatter_reduce(0, expanded, src, reduce="amax", include_self=False)


def scatter(src: Tensor, index: Tensor, dim_size: Optional[int] = None, reduce: str = "sum") -> Tensor:
    """One of ``scatter_sum`` / ``scatter_mean`` / ``scatter_max`` by name (``reduce="sum" | "mean" | "max"``)."""
    check_choices({"reduce": reduce}, {"reduce": REDUCTIONS}, quote=True)
    return REDUCTIONS[reduce](src, index, dim_size)


def scatter_softmax(src: Tensor, index: Tensor, dim_size: Optional[int] = None) -> Tensor:
    """Softmax of ``src`` over the entries that share an index, elementwise over the features:
    ``out[e] = exp(src[e]) / sum_{e': index[e'] == index[e]} exp(src[e'])``; ``(E, *F) -> (E, *F)``.
    The group maximum is subtracted first (detached: it cancels in the ratio) for stability."""
    _check(src, index)
    size = _dim_size(index, dim_size)
    peak = scatter_max(src.detach(), index, size).index_select(0, index)  # (E, *F)
    exp = (src - peak).exp()
    total = scatter_sum(exp, index, size).index_select(0, index)  # (E, *F)
    return exp / total


def segment_sum_csr(src: Tensor, indptr: Tensor) -> Tensor:
    """Sum of consecutive rows of ``src`` (``(E, *F)``, sorted by output row) between ``indptr[i]`` and
    ``indptr[i + 1]``; ``(E, *F) -> (len(indptr) - 1, *F)``. Empty segments are 0."""
    if indptr.dim() != 1 or indptr.numel() < 1 or int(indptr[-1]) != src.shape[0]:
        raise ValueError(f"indptr must be 1-D, start at 0 and end at the number of rows of src ({src.shape[0]})")
    lengths = indptr[1:] - indptr[:-1]  # (dim_size,)
    return torch.segment_reduce(src, "sum", lengths=lengths, unsafe=True)


REDUCTIONS = {"sum": scatter_sum, "mean": scatter_mean, "max": scatter_max}


# Dense references: the one-hot assignment matrix M (dim_size, E), then plain dense reductions.


def assignment_matrix(index: Tensor, dim_size: Optional[int] = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """``M`` of shape ``(dim_size, E)`` with ``M[i, e] = 1`` where ``index[e] == i``."""
    size = _dim_size(index, dim_size)
    return (torch.arange(size, device=index.device)[:, None] == index[None, :]).to(dtype)


def scatter_sum_ref(src: Tensor, index: Tensor, dim_size: Optional[int] = None) -> Tensor:
    m = assignment_matrix(index, dim_size, src.dtype)  # (S, E)
    return (m @ src.reshape(src.shape[0], -1)).reshape(m.shape[0], *src.shape[1:])  # (S, E) @ (E, F') -> (S, *F)


def scatter_mean_ref(src: Tensor, index: Tensor, dim_size: Optional[int] = None) -> Tensor:
    m = assignment_matrix(index, dim_size, src.dtype)  # (S, E)
    m = m / m.sum(dim=1, keepdim=True).clamp_min(1)  # each row averages its entries
    return (m @ src.reshape(src.shape[0], -1)).reshape(m.shape[0], *src.shape[1:])  # (S, *F)


def scatter_max_ref(src: Tensor, index: Tensor, dim_size: Optional[int] = None) -> Tensor:
    m = assignment_matrix(index, dim_size, torch.bool)  # (S, E)
    flat = src.reshape(src.shape[0], -1)  # (E, F')
    masked = torch.where(m[:, :, None], flat[None, :, :], torch.full_like(flat[None], float("-inf")))  # (S, E, F')
    out = masked.amax(dim=1) if src.shape[0] else flat.new_zeros((m.shape[0], flat.shape[1]))
    out = torch.where(m.any(dim=1, keepdim=True), out, torch.zeros_like(out))  # (S, F'); empty rows 0
    return out.reshape(m.shape[0], *src.shape[1:])


def scatter_softmax_ref(src: Tensor, index: Tensor, dim_size: Optional[int] = None) -> Tensor:
    m = assignment_matrix(index, dim_size, torch.bool)  # (S, E)
    flat = src.reshape(src.shape[0], -1)  # (E, F')
    logits = torch.where(m[:, :, None], flat[None], torch.full_like(flat[None], float("-inf")))  # (S, E, F')
    probs = torch.softmax(logits, dim=1).nan_to_num(0.0)  # a softmax per row over its entries; empty rows 0
    return (probs * m[:, :, None]).sum(dim=0).reshape(src.shape)  # each entry belongs to one row
