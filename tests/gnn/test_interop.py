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


def test_gcn_cache_pyg_already_holds_travels_with_the_layer(awkward_graph, random_graph):
    (x, edge_index), (_, other_edges) = awkward_graph, random_graph
    other_edges = other_edges % x.shape[0]  # a second graph over the same 8 nodes
    ref = _randomise(pyg.GCNConv(5, 4, cached=True))
    ref(x, edge_index)  # PyG normalises the first graph and keeps it
    ours = from_pyg(ref)
    _close(ours(x, other_edges), ref(x, other_edges))  # both still propagate over the first graph
    _close(ours(x, other_edges), from_pyg(_randomise(pyg.GCNConv(5, 4)))(x, edge_index))


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


@pytest.mark.parametrize("heads, concat, add_self_loops, bias, residual, negative_slope",
                         [(*c, 0.2) for c in itertools.product([1, 3], [True, False], [True, False], [True, False],
                                                               [False, True])]
                         + [(2, True, True, True, False, 0.01), (2, False, True, True, True, 0.5)])
def test_gat(awkward_graph, random_graph, heads, concat, add_self_loops, bias, residual, negative_slope):
    for x, edge_index in _graphs(awkward_graph, random_graph):
        ref = _randomise(pyg.GATConv(x.shape[1], 4, heads=heads, concat=concat, add_self_loops=add_self_loops,
                                     bias=bias, residual=residual, negative_slope=negative_slope,
                                     dropout=0.3, fill_value=0.5)).eval()
        ours = from_pyg(ref)
        assert isinstance(ours, GATConv)
        _close(ours(x, edge_index), ref(x, edge_index))
        out, (ref_edges, ref_alpha) = ref(x, edge_index, return_attention_weights=True)
        mine = ours(x, edge_index, return_attention=True)
        assert torch.equal(mine.edge_index, ref_edges)
        _close(mine.attention, ref_alpha)


@pytest.mark.parametrize("train_eps, aggr", [(False, "add"), (True, "add"), (True, "mean"), (False, "max")])
def test_gin(awkward_graph, random_graph, train_eps, aggr):
    for x, edge_index in _graphs(awkward_graph, random_graph):
        mlp = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        ref = _randomise(pyg.GINConv(mlp, eps=0.3, train_eps=train_eps, aggr=aggr))
        ours = from_pyg(ref)
        assert isinstance(ours, GINConv) and isinstance(ours.eps, torch.nn.Parameter) == train_eps
        _close(ours(x, edge_index), ref(x, edge_index))


def test_gat_dropout_carries_over_and_draws_in_training_mode(awkward_graph):
    x, edge_index = awkward_graph
    ours = from_pyg(pyg.GATConv(5, 4, heads=2, dropout=0.4))
    assert ours.dropout == 0.4 and ours.training
    assert not torch.equal(ours(x, edge_index), ours(x, edge_index))


def test_gin_eps_is_learned_when_train_eps():
    ours = from_pyg(pyg.GINConv(torch.nn.Linear(5, 3), eps=0.3, train_eps=True))
    x, edge_index = torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]])
    ours(x, edge_index).sum().backward()
    assert ours.eps.grad is not None and float(ours.eps.grad.abs()) > 0


@pytest.mark.parametrize("make, fragment", [
    (lambda: pyg.SAGEConv(4, 4, project=True), "SAGEConv with project=True is not supported"),
    (lambda: pyg.SAGEConv(4, 4, aggr="min"), "SAGEConv with aggr='min' is not supported"),
    (lambda: pyg.SAGEConv(4, 4, aggr="lstm"), "SAGEConv with aggr='lstm' is not supported"),
    (lambda: pyg.SAGEConv(4, 4, aggr=["mean", "max"]), r"SAGEConv with aggr=\['mean', 'max'\] is not supported"),
    (lambda: pyg.SAGEConv((4, 3), 4), r"SAGEConv with in_channels=\(4, 3\) is not supported"),
    (lambda: pyg.GATConv(4, 4, edge_dim=2), "GATConv with edge_dim=2 is not supported"),
    (lambda: pyg.GATConv((4, 3), 4), "GATConv with in_channels"),
    (lambda: pyg.GATConv(4, 4, aggr="mean"), "GATConv with aggr='mean' is not supported"),
    (lambda: pyg.GCNConv(-1, 4), "GCNConv with in_channels=-1 is not supported"),
    (lambda: pyg.GCNConv(4, 4, improved=True), "GCNConv with improved=True is not supported: PyG 2.8 gives"),
    (lambda: pyg.GCNConv(4, 4, aggr="max"), "GCNConv with aggr='max' is not supported"),
    (lambda: pyg.GCNConv(4, 4, flow="target_to_source"), "GCNConv with flow='target_to_source' is not supported"),
    (lambda: pyg.GINConv(torch.nn.Identity(), aggr="min"), "GINConv with aggr='min' is not supported"),
    (lambda: pyg.GINConv(torch.nn.Identity(), flow="target_to_source"), "GINConv with flow='target_to_source'"),
])
def test_unsupported_options_are_refused_by_name(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        from_pyg(make())
