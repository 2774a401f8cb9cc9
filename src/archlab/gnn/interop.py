"""PyTorch Geometric layers as archlab layers with the same weights: ``GCNConv``, ``SAGEConv``, ``GATConv``,
``GINConv`` (``archlab.interop.from_pyg``).

Key mapping (PyG -> archlab)::

    GCNConv   lin.weight -> lin.weight              bias -> bias
    SAGEConv  lin_l.weight/bias -> lin_neighbours.* lin_r.weight -> lin_root.weight
    GATConv   lin.weight -> lin.weight              att_src, att_dst, bias -> same names; res.weight -> res.weight
    GINConv   nn -> mlp (a copy of the torch module) eps -> eps (parameter when train_eps)

What has no counterpart raises ValueError: bipartite inputs (``in_channels`` given as a pair), ``SAGEConv``
with ``project=True`` or a non-string aggregation, ``GATConv`` with ``edge_dim``, a lazy layer
(``in_channels=-1``) that has not seen an input. ``GCNConv(improved=True)`` converts, but on a graph without
edge weights PyG 2.8 gives loops weight 1 where archlab gives the documented 2.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

from archlab.gnn.gat import GATConv
from archlab.gnn.gcn import GCNConv
from archlab.gnn.gin import GINConv
from archlab.gnn.sage import SAGEConv


def _channels(layer: Any) -> int:
    if not isinstance(layer.in_channels, int) or layer.in_channels < 0:
        raise ValueError(f"torch_geometric {type(layer).__name__} with in_channels={layer.in_channels} is not "
                         "supported (bipartite or lazy layers have no archlab counterpart)")
    return layer.in_channels


def _load(target: nn.Module, state: dict, reference: Any) -> nn.Module:
    param = next(iter(state.values()), None)
    if param is not None:
        target.to(dtype=param.dtype, device=param.device)
    target.load_state_dict(state, strict=True)
    target.train(reference.training)
    return target


def from_gcn_conv(layer: Any) -> GCNConv:
    out = GCNConv(_channels(layer), layer.out_channels, bias=layer.bias is not None, normalize=layer.normalize,
                  add_self_loops=layer.add_self_loops, improved=layer.improved, cached=layer.cached)
    state = {"lin.weight": layer.lin.weight.detach()}
    if layer.bias is not None:
        state["bias"] = layer.bias.detach()
    return _load(out, state, layer)


def from_sage_conv(layer: Any) -> SAGEConv:
    if getattr(layer, "project", False):
        raise ValueError("torch_geometric SAGEConv with project=True is not supported")
    if not isinstance(layer.aggr, str):
        raise ValueError(f"torch_geometric SAGEConv with aggr={layer.aggr!r} is not supported; use 'mean', 'sum' "
                         "or 'max'")
    aggr = "sum" if layer.aggr == "add" else layer.aggr
    out = SAGEConv(_channels(layer), layer.out_channels, aggr=aggr, bias=layer.lin_l.bias is not None,
                   root_weight=layer.root_weight, normalize=layer.normalize)
    state = {"lin_neighbours.weight": layer.lin_l.weight.detach()}
    if layer.lin_l.bias is not None:
        state["lin_neighbours.bias"] = layer.lin_l.bias.detach()
    if layer.root_weight:
        state["lin_root.weight"] = layer.lin_r.weight.detach()
    return _load(out, state, layer)


def from_gat_conv(layer: Any) -> GATConv:
    if layer.lin is None or getattr(layer, "edge_dim", None) is not None:
        raise ValueError("torch_geometric GATConv with separate source/target inputs or edge_dim is not supported")
    residual = getattr(layer, "res", None) is not None
    out = GATConv(_channels(layer), layer.out_channels, heads=layer.heads, concat=layer.concat,
                  negative_slope=layer.negative_slope, dropout=layer.dropout, add_self_loops=layer.add_self_loops,
                  bias=layer.bias is not None, residual=residual)
    state = {"lin.weight": layer.lin.weight.detach(), "att_src": layer.att_src.detach(),
             "att_dst": layer.att_dst.detach()}
    if residual:
        state["res.weight"] = layer.res.weight.detach()
    if layer.bias is not None:
        state["bias"] = layer.bias.detach()
    return _load(out, state, layer)


def from_gin_conv(layer: Any) -> GINConv:
    train_eps = isinstance(layer.eps, nn.Parameter)
    out = GINConv(copy.deepcopy(layer.nn), eps=float(layer.eps.detach()), train_eps=train_eps)
    with torch.no_grad():
        out.eps.copy_(layer.eps.detach().reshape(1))
    out.train(layer.training)
    return out


PYG: dict[str, Callable[[Any], nn.Module]] = {
    "GCNConv": from_gcn_conv,
    "SAGEConv": from_sage_conv,
    "GATConv": from_gat_conv,
    "GINConv": from_gin_conv,
}
