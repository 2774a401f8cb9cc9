"""The neighbour sampler: fan-out caps, real edges, seeds first; exact receptive fields by hand."""

import networkx as nx
import pytest
import torch

from archlab.gnn.data import from_networkx
from archlab.gnn.sampler import NeighborSampler, receptive_fields


@pytest.fixture(scope="module")
def hub_graph():
    return from_networkx(nx.barabasi_albert_graph(400, 4, seed=0))


def test_fanouts_cap_every_hop_and_a_single_seed_tree(hub_graph):
    sampler = NeighborSampler(hub_graph.edge_index, 400, [5, 3])
    for node in range(0, 400, 7):
        sub = sampler.sample(torch.tensor([node]), torch.Generator().manual_seed(node))
        assert sub.nodes.numel() <= 1 + 5 + 15
        first_hop = sub.edge_index[:, sub.edge_index[1] == 0]
        assert first_hop.shape[1] == min(5, int((hub_graph.edge_index[1] == node).sum()))
        in_counts = torch.bincount(sub.edge_index[1], minlength=sub.nodes.numel())
        assert int(in_counts[1:].max()) <= 3


def test_sampled_edges_are_edges_of_the_graph_and_seeds_come_first(hub_graph):
    sampler = NeighborSampler(hub_graph.edge_index, 400, [4, 4])
    seeds = torch.tensor([10, 3, 10, 99])
    sub = sampler.sample(seeds, torch.Generator().manual_seed(0))
    assert sub.nodes[:3].tolist() == [10, 3, 99] and sub.num_seeds == 3
    assert sub.nodes.unique().numel() == sub.nodes.numel() == sum(sub.hop_sizes)
    real = set(map(tuple, hub_graph.edge_index.T.tolist()))
    assert all((int(sub.nodes[s]), int(sub.nodes[t])) in real for s, t in sub.edge_index.T.tolist())


def test_sampling_is_a_function_of_the_generator(hub_graph):
    sampler = NeighborSampler(hub_graph.edge_index, 400, [3])
    a = sampler.sample(torch.tensor([0]), torch.Generator().manual_seed(5))
    b = sampler.sample(torch.tensor([0]), torch.Generator().manual_seed(5))
    assert torch.equal(a.nodes, b.nodes)


def test_bad_fanouts_are_named():
    with pytest.raises(ValueError, match=r"fanouts\[1\]=0 must be >= 1"):
        NeighborSampler(torch.tensor([[0], [1]]), 2, [2, 0])


def test_receptive_fields_on_a_directed_path():
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])  # 0 -> 1 -> 2 -> 3 -> 4
    assert receptive_fields(edge_index, 5, torch.tensor([4, 0, 2]), 2).tolist() == [3, 1, 3]
