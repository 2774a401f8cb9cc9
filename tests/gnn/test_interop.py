"""``from_pyg``: each archlab layer equals its torch_geometric layer within 1e-5, across options, on graphs with
isolated nodes, self-loops and duplicate edges."""

import itertools

import pytest
import torch

from archlab.gnn.gat import GATConv
from archlab.gnn.gcn import GCNConv
from archlab.gnn.gin import GINConv
from archlab.gnn.sage import SAGEConv
from archlab.interop import from_pyg

pyg = pytest.importorskip("torch_geometric.nn")


def _randomise(layer):
    torch.manual_seed(3)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    return layer


def _close(a, b):
    assert (a - b).abs().max() <= 1e-5, float((a - b).abs().max())


def _graphs(awkward_graph, random_graph):
    return [awkward_graph, random_graph]


@pytest.mark.parametrize("bias, normalize, add_self_loops, cached",
                         [c for c in itertools.product([True, False], [True, False], [True, False], [False, True])
                          if c[1] or not c[2]])
def test_gcn(awkward_graph, random_graph, bias, normalize, add_self_loops, cached):
    for x, edge_index in _graphs(awkward_graph, random_graph):
        ref = _randomise(pyg.GCNConv(x.shape[1], 4, bias=bias, normalize=normalize, add_self_loops=add_self_loops,
                                     cached=cached))
        ours = from_pyg(ref)
        assert isinstance(ours, GCNConv)
        weight = torch.rand(edge_index.shape[1], generator=torch.Generator().manual_seed(2))
        _close(ours(x, edge_index), ref(x, edge_index))
        if not cached:
            _close(ours(x, edge_index, weight), ref(x, edge_index, weight))


def test_gcn_improved_matches_with_edge_weights(awkward_graph):
    x, edge_index = awkward_graph
    ref = _randomise(pyg.GCNConv(5, 4, improved=True))
    weight = torch.rand(edge_index.shape[1], generator=torch.Generator().manual_seed(2))
    _close(from_pyg(ref)(x, edge_index, weight), ref(x, edge_index, weight))


@pytest.mark.parametrize("aggr, bias, root_weight, normalize",
                         list(itertools.product(["mean", "add", "max"], [True, False], [True, False],
                                                [False, True])))
def test_sage(awkward_graph, random_graph, aggr, bias, root_weight, normalize):
    for x, edge_index in _graphs(awkward_graph, random_graph):
        ref = _randomise(pyg.SAGEConv(x.shape[1], 4, aggr=aggr, bias=bias, root_weight=root_weight,
                                      normalize=normalize))
        ours = from_pyg(ref)
        assert isinstance(ours, SAGEConv)
        _close(ours(x, edge_index), ref(x, edge_index))


@pytest.mark.parametrize("heads, concat, add_self_loops, bias, residual",
                         list(itertools.product([1, 3], [True, False], [True, False], [True, False],
                                                [False, True])))
def test_gat(awkward_graph, random_graph, heads, concat, add_self_loops, bias, residual):
    for x, edge_index in _graphs(awkward_graph, random_graph):
        ref = _randomise(pyg.GATConv(x.shape[1], 4, heads=heads, concat=concat, add_self_loops=add_self_loops,
                                     bias=bias, residual=residual)).eval()
        ours = from_pyg(ref)
        assert isinstance(ours, GATConv)
        _close(ours(x, edge_index), ref(x, edge_index))
        out, (ref_edges, ref_alpha) = ref(x, edge_index, return_attention_weights=True)
        mine = ours(x, edge_index, return_attention=True)
        assert torch.equal(mine.edge_index, ref_edges)
        _close(mine.attention, ref_alpha)


@pytest.mark.parametrize("train_eps", [False, True])
def test_gin(awkward_graph, random_graph, train_eps):
    for x, edge_index in _graphs(awkward_graph, random_graph):
        mlp = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        ref = _randomise(pyg.GINConv(mlp, eps=0.3, train_eps=train_eps))
        ours = from_pyg(ref)
        assert isinstance(ours, GINConv) and isinstance(ours.eps, torch.nn.Parameter) == train_eps
        _close(ours(x, edge_index), ref(x, edge_index))


def test_unsupported_options_are_refused():
    with pytest.raises(ValueError, match="project=True"):
        from_pyg(pyg.SAGEConv(4, 4, project=True))
    with pytest.raises(ValueError, match="edge_dim"):
        from_pyg(pyg.GATConv(4, 4, edge_dim=2))
    with pytest.raises(ValueError, match="in_channels=-1"):
        from_pyg(pyg.GCNConv(-1, 4))
