"""PyTorch Geometric layers as archlab layers with the same weights: ``GCNConv``, ``SAGEConv``, ``GATConv``,
``GINConv`` (``archlab.interop.from_pyg``).

Key mapping (PyG -> archlab)::

    GCNConv   lin.weight -> lin.weight              bias -> bias
    SAGEConv  lin_l.weight/bias -> lin_neighbours.* lin_r.weight -> lin_root.weight
    GATConv   lin.weight -> lin.weight              att_src, att_dst, bias -> same names; res.weight -> res.weight
    GINConv   nn -> mlp (a copy of the torch module) eps -> eps (parameter when train_eps)

Options, layer by layer (everything a PyG 2.8 constructor takes is either mapped or refused):

- every layer: ``flow="source_to_target"`` only (``"target_to_source"`` is refused); ``in_channels`` an int
  (bipartite pairs and lazy ``-1`` layers are refused); ``node_dim`` and ``decomposed_layers`` change how
  PyG lays out its work, not what an ``(N, F)`` input gives, and are not read.
- ``GCNConv``: ``bias``, ``normalize``, ``add_self_loops``, ``cached`` mapped (a normalisation PyG has already
  cached travels with the layer); ``improved=True`` refused: PyG 2.8 gives an unweighted graph's self-loops
  weight 1, not the documented 2 that archlab gives, so no archlab layer reproduces it; ``aggr`` other than
  ``"add"`` refused.
- ``SAGEConv``: ``aggr`` ``"mean"``, ``"add"``/``"sum"``, ``"max"``, ``bias``, ``root_weight``, ``normalize``
  mapped; other aggregations (``"min"``, ``"lstm"``, lists, ``Aggregation`` modules) and ``project=True`` refused.
- ``GATConv``: ``heads``, ``concat``, ``negative_slope``, ``dropout`` (random in training mode, as in PyG),
  ``add_self_loops``, ``bias``, ``residual`` mapped; ``fill_value`` is only read for edge features, and
  ``edge_dim`` (edge features) is refused; ``aggr`` other than ``"add"`` refused.
- ``GINConv``: ``nn``, ``eps``, ``train_eps`` mapped; ``aggr`` ``"add"``/``"sum"``, ``"mean"``, ``"max"`` mapped
  (archlab's ``GINConv`` takes them), others refused.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

from archlab.gnn.gat import GATConv
from archlab.gnn.gcn import GCNConv, GCNPlan
from archlab.gnn.gin import GINConv
from archlab.gnn.sage import SAGEConv


def _refuse(layer: Any, option: str, why: str = "") -> ValueError:
    reason = f": {why}" if why else ""
    return ValueError(f"torch_geometric {type(layer).__name__} with {option} is not supported{reason}")


def _channels(layer: Any) -> int:
    """The input width, after checking the options every layer shares (module docstring)."""
    if getattr(layer, "flow", "source_to_target") != "source_to_target":
        raise _refuse(layer, f"flow={layer.flow!r}", "archlab layers send messages source -> target")
    if not isinstance(layer.in_channels, int) or layer.in_channels < 0:
        raise _refuse(layer, f"in_channels={layer.in_channels}",
                      "bipartite or lazy layers have no archlab counterpart")
    return layer.in_channels


def _aggregation(layer: Any, allowed: tuple[str, ...]) -> str:
    """PyG's aggregation name as archlab's (``"add"`` is ``"sum"``), refused unless in ``allowed``."""
    aggr = layer.aggr
    if not isinstance(aggr, str) or aggr not in allowed:
        raise _refuse(layer, f"aggr={aggr!r}", f"archlab maps {', '.join(repr(a) for a in allowed)}")
    return "sum" if aggr == "add" else aggr


def _load(target: nn.Module, state: dict, reference: Any) -> nn.Module:
    param = next(iter(state.values()), None)
    if param is not None:
        target.to(dtype=param.dtype, device=param.device)
    target.load_state_dict(state, strict=True)
    target.train(reference.training)
    return target


def from_gcn_conv(layer: Any) -> GCNConv:
    in_features = _channels(layer)
    _aggregation(layer, ("add", "sum"))
    if layer.improved:
        raise _refuse(layer, "improved=True", "PyG 2.8 gives an unweighted graph's self-loops weight 1 where "
                      "archlab gives the documented 2 (A + 2I), so their outputs differ")
    if getattr(layer, "_cached_adj_t", None) is not None:
        raise _refuse(layer, "a cached SparseTensor normalisation", "pass edge_index tensors")
    out = GCNConv(in_features, layer.out_channels, bias=layer.bias is not None, normalize=layer.normalize,
                  add_self_loops=layer.add_self_loops, cached=layer.cached)
    state = {"lin.weight": layer.lin.weight.detach()}
    if layer.bias is not None:
        state["bias"] = layer.bias.detach()
    _load(out, state, layer)
    cache = getattr(layer, "_cached_edge_index", None)
    if layer.cached and cache is not None:  # PyG normalised a graph already: keep using that one
        edge_index, edge_weight = cache
        out._plan = GCNPlan(edge_index[0], edge_index[1], None, None, None, edge_weight[:, None])  # (E', 1)
    return out


def from_sage_conv(layer: Any) -> SAGEConv:
    in_features = _channels(layer)
    if getattr(layer, "project", False):
        raise _refuse(layer, "project=True")
    aggr = _aggregation(layer, ("mean", "add", "sum", "max"))
    out = SAGEConv(in_features, layer.out_channels, aggr=aggr, bias=layer.lin_l.bias is not None,
                   root_weight=layer.root_weight, normalize=layer.normalize)
    state = {"lin_neighbours.weight": layer.lin_l.weight.detach()}
    if layer.lin_l.bias is not None:
        state["lin_neighbours.bias"] = layer.lin_l.bias.detach()
    if layer.root_weight:
        state["lin_root.weight"] = layer.lin_r.weight.detach()
    return _load(out, state, layer)


def from_gat_conv(layer: Any) -> GATConv:
    in_features = _channels(layer)
    if getattr(layer, "edge_dim", None) is not None:
        raise _refuse(layer, f"edge_dim={layer.edge_dim}", "archlab's GATConv has no edge features")
    _aggregation(layer, ("add", "sum"))
    residual = getattr(layer, "res", None) is not None
    out = GATConv(in_features, layer.out_channels, heads=layer.heads, concat=layer.concat,
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
    if getattr(layer, "flow", "source_to_target") != "source_to_target":
        raise _refuse(layer, f"flow={layer.flow!r}", "archlab layers send messages source -> target")
    aggr = _aggregation(layer, ("add", "sum", "mean", "max"))
    train_eps = isinstance(layer.eps, nn.Parameter)
    out = GINConv(copy.deepcopy(layer.nn), eps=float(layer.eps.detach()), train_eps=train_eps, aggr=aggr)
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
