"""Graph data: the CSBM's homophily and degree, networkx and PyG inputs, the CSV loader's errors and warning."""

import networkx as nx
import pytest
import torch

from archlab.errors import UserError
from archlab.gnn.data import collate, csbm, edge_homophily, from_networkx, from_pyg_data, load_csv, split_nodes


@pytest.mark.parametrize("homophily", [0.9, 0.25, 0.05])
def test_csbm_has_the_asked_homophily_and_degree(homophily):
    g = csbm(num_nodes=600, num_classes=4, degree=8.0, homophily=homophily, generator=torch.Generator().manual_seed(0))
    assert abs(edge_homophily(g) - homophily) < 0.05
    assert abs(g.edge_index.shape[1] / 600 - 8.0) < 0.6
    assert torch.equal(torch.bincount(g.y), torch.full((4,), 150))
    flipped = g.edge_index.flip(0)
    assert set(map(tuple, g.edge_index.T.tolist())) == set(map(tuple, flipped.T.tolist()))  # undirected


def test_csbm_features_sit_around_their_class_means():
    g = csbm(num_nodes=2000, num_classes=4, mean_distance=4.0, sigma=0.1, generator=torch.Generator().manual_seed(0))
    means = torch.stack([g.x[g.y == k].mean(0) for k in range(4)])
    assert torch.allclose(torch.cdist(means, means)[0, 1:], torch.full((3,), 4.0), atol=0.05)


def test_split_nodes_partitions_the_nodes():
    g = split_nodes(csbm(num_nodes=100, generator=torch.Generator().manual_seed(0)),
                    generator=torch.Generator().manual_seed(1))
    together = torch.cat([g.train_nodes, g.val_nodes, g.test_nodes]).sort().values
    assert torch.equal(together, torch.arange(100)) and g.train_nodes.numel() == 50


def test_networkx_graph_with_features_and_labels():
    graph = nx.Graph()
    graph.add_node("a", x=[1.0, 2.0], y=0)
    graph.add_node("b", x=[3.0, 4.0], y=1)
    graph.add_node("c", x=[5.0, 6.0], y=1)
    graph.add_edges_from([("a", "b"), ("b", "c")])
    g = from_networkx(graph)
    assert g.x.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]] and g.y.tolist() == [0, 1, 1]
    assert sorted(map(tuple, g.edge_index.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert from_networkx(nx.path_graph(3)).x.shape == (3, 1)


def test_pyg_data_is_accepted():
    data_module = pytest.importorskip("torch_geometric.data")
    data = data_module.Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([0, 1, 0, 1]),
                            train_mask=torch.tensor([True, False, True, False]))
    g = from_pyg_data(data)
    assert g.train_nodes.tolist() == [0, 2] and g.val_nodes is None and torch.equal(g.x, data.x)


def _write(tmp_path, edges: str, features: str = "label,a,b\n0,1.0,2.0\n1,3.0,4.0\n1,5.0,6.0\n"):
    (tmp_path / "e.csv").write_text(edges)
    (tmp_path / "f.csv").write_text(features)
    return tmp_path / "e.csv", tmp_path / "f.csv"


def test_csv_loader_reads_edges_features_and_labels(tmp_path):
    g = load_csv(*_write(tmp_path, "source,target\n0,1\n1,2\n"))
    assert g.edge_index.tolist() == [[0, 1], [1, 2]] and g.x.tolist()[2] == [5.0, 6.0] and g.y.tolist() == [0, 1, 1]


def test_csv_loader_names_the_first_edge_outside_the_node_range(tmp_path):
    with pytest.raises(UserError, match=r"e.csv, line 3: edge 1 -> 3 points outside the 3 nodes .*ids 0 to 2.*: 1,3"):
        load_csv(*_write(tmp_path, "source,target\n0,1\n1,3\n2,7\n"))
    with pytest.raises(UserError, match=r"line 2: an edge is two integer node ids: 0,x"):
        load_csv(*_write(tmp_path, "source,target\n0,x\n"))
    with pytest.raises(UserError, match="header must start with source,target"):
        load_csv(*_write(tmp_path, "a,b\n0,1\n"))
    with pytest.raises(UserError, match=r"f.csv, line 3: 2 values where the header has 3"):
        load_csv(*_write(tmp_path, "source,target\n", "label,a,b\n0,1,2\n1,2\n"))


def test_csv_loader_warns_with_the_count_of_duplicate_edges(tmp_path):
    with pytest.warns(UserWarning, match="2 duplicate edge"):
        g = load_csv(*_write(tmp_path, "source,target\n0,1\n0,1\n1,2\n0,1\n"))
    assert g.edge_index.shape == (2, 4)


def test_collate_offsets_each_graph():
    a = from_networkx(nx.path_graph(2))
    b = from_networkx(nx.path_graph(3))
    batch = collate([a, b], torch.tensor([0, 1]))
    assert batch.batch.tolist() == [0, 0, 1, 1, 1] and batch.num_graphs == 2
    assert batch.edge_index[:, 2:].min() == 2


def test_graphs_without_edges_load_as_2_by_0(tmp_path, recwarn):
    g = load_csv(*_write(tmp_path, "source,target\n"))
    assert g.edge_index.shape == (2, 0) and g.edge_index.dtype == torch.long and not recwarn.list
    assert from_networkx(nx.empty_graph(3)).edge_index.shape == (2, 0)
