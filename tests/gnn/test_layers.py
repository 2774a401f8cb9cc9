"""The layers: GCN normalisation by hand, fast GCN equal to its readable path, the message-passing base,
GraphSAGE's mean, GAT's attention, GIN's epsilon and sum."""

import math

import pytest
import torch
from torch import nn

from archlab.gnn.gat import GATConv
from archlab.gnn.gcn import GCNConv
from archlab.gnn.gin import GINConv
from archlab.gnn.graph_ops import gcn_norm
from archlab.gnn.message_passing import MessagePassing
from archlab.gnn.sage import SAGEConv


def _identity_gcn(features, **kwargs):
    conv = GCNConv(features, features, bias=False, **kwargs)
    with torch.no_grad():
        conv.lin.weight.copy_(torch.eye(features))
    return conv


def test_gcn_normalisation_by_hand_on_a_path_of_four_nodes():
    # path 0 - 1 - 2 - 3 (both directions): with loops the degrees are 2, 3, 3, 2
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    d = [2, 3, 3, 2]
    expected = torch.zeros(4, 4)
    for i, j in [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (0, 0), (1, 1), (2, 2), (3, 3)]:
        expected[i, j] = 1 / math.sqrt(d[i] * d[j])
    x = torch.eye(4)
    conv = _identity_gcn(4)
    torch.testing.assert_close(conv(x, edge_index), expected)
    torch.testing.assert_close(conv.forward_ref(x, edge_index), expected)
    edges, weights = gcn_norm(edge_index, 4)
    assert edges.shape == (2, 10) and math.isclose(float(weights[0]), 1 / math.sqrt(6), rel_tol=1e-6)


def test_gcn_replaces_existing_loops_and_counts_duplicate_edges():
    x = torch.eye(3)
    looped = torch.tensor([[0, 0, 0, 1], [1, 1, 0, 1]])  # 0 -> 1 twice, loops at 0 and 1
    out = _identity_gcn(3)(x, looped).detach()
    # in-degrees with one loop each: node 0: 1, node 1: 2 (duplicate) + 1 = 3, node 2: 1
    assert math.isclose(float(out[1, 0]), 2 / math.sqrt(3 * 1), rel_tol=1e-6)
    assert math.isclose(float(out[1, 1]), 1 / 3, rel_tol=1e-6)
    assert float(out[2, 2]) == 1.0 and float(out[2, :2].abs().sum()) == 0.0  # isolated node keeps itself


@pytest.mark.parametrize("kwargs", [{}, dict(add_self_loops=False), dict(normalize=False, add_self_loops=False),
                                    dict(improved=True)])
@pytest.mark.parametrize("weighted", [False, True])
def test_fast_gcn_equals_its_readable_path_with_gradients(awkward_graph, kwargs, weighted):
    x, edge_index = awkward_graph
    weight = torch.rand(edge_index.shape[1], generator=torch.Generator().manual_seed(4)) if weighted else None
    torch.manual_seed(0)
    conv = GCNConv(5, 3, **kwargs)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    fast, ref = conv(a, edge_index, weight), conv.forward_ref(b, edge_index, weight)
    torch.testing.assert_close(fast, ref)
    fast.pow(2).sum().backward()
    ref.pow(2).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_cached_gcn_keeps_the_first_graph(awkward_graph):
    x, edge_index = awkward_graph
    conv = GCNConv(5, 3, cached=True)
    first = conv(x, edge_index)
    torch.testing.assert_close(conv(x, edge_index[:, :3]), first)
    assert not torch.allclose(GCNConv(5, 3)(x, edge_index[:, :3]), first)


def test_bad_graphs_and_options_are_named():
    with pytest.raises(ValueError, match=r"outside the 3 nodes \[0, 3\)"):
        GCNConv(2, 2)(torch.ones(3, 2), torch.tensor([[0], [3]]))
    with pytest.raises(ValueError, match=r"must be \(2, E\)"):
        SAGEConv(2, 2)(torch.ones(3, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="add_self_loops=True needs normalize=True"):
        GCNConv(2, 2, normalize=False)
    with pytest.raises(ValueError, match="aggr='min' is not one of 'sum', 'mean', 'max'"):
        SAGEConv(2, 2, aggr="min")
    with pytest.raises(ValueError, match="heads=0 must be >= 1"):
        GATConv(2, 2, heads=0)


class Differences(MessagePassing):
    """m_ij = x_j - x_i, summed: the written-out gathers reach message by their names."""

    def message(self, x_j, x_i, edge_weight):
        return edge_weight[:, None] * (x_j - x_i)


def test_propagate_gathers_source_and_target_values():
    x = torch.tensor([[1.0], [10.0], [100.0]])
    edge_index = torch.tensor([[0, 2, 1], [1, 1, 2]])
    out = Differences().propagate(edge_index, x=x, edge_weight=torch.tensor([1.0, 2.0, 3.0]))
    assert out.flatten().tolist() == [0.0, (1 - 10) + 2 * (100 - 10), 3 * (10 - 100)]


def test_sage_is_the_mean_of_neighbours_plus_the_root():
    conv = SAGEConv(2, 2, bias=False)
    with torch.no_grad():
        conv.lin_neighbours.weight.copy_(torch.eye(2))
        conv.lin_root.weight.copy_(2 * torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [3.0, 1.0], [5.0, 3.0]])
    out = conv(x, torch.tensor([[1, 2], [0, 0]]))
    assert out.tolist() == [[4.0 + 2.0, 2.0], [6.0, 2.0], [10.0, 6.0]]


def test_gat_attention_sums_to_one_per_target_and_heads_concatenate(awkward_graph):
    x, edge_index = awkward_graph
    torch.manual_seed(0)
    out = GATConv(5, 4, heads=3)(x, edge_index, return_attention=True)
    assert out.hidden.shape == (8, 12) and out.attention.shape == (out.edge_index.shape[1], 3)
    sums = torch.zeros(8, 3).index_add_(0, out.edge_index[1], out.attention)
    torch.testing.assert_close(sums, torch.ones(8, 3))
    assert GATConv(5, 4, heads=3, concat=False)(x, edge_index).shape == (8, 4)


def test_gin_sums_neighbours_and_weights_the_root_by_one_plus_eps():
    conv = GINConv(nn.Identity(), eps=0.5)
    x = torch.tensor([[1.0], [2.0], [4.0]])
    out = conv(x, torch.tensor([[1, 2, 2], [0, 0, 0]]))  # node 0 hears 2, 4, 4
    assert out.flatten().tolist() == [1.5 + 10.0, 3.0, 6.0]
    assert isinstance(GINConv(nn.Identity(), train_eps=True).eps, nn.Parameter)
