"""PairNorm, GCNII, jumping knowledge, readouts, the Dirichlet energy, and the GNN model's config and saves."""

import math

import pytest
import torch

from archlab.core.scatter import scatter_max_ref, scatter_mean_ref, scatter_sum_ref
from archlab.gnn.depth import GCNIIConv, JumpingKnowledge, PairNorm
from archlab.gnn.energy import dirichlet_energy
from archlab.gnn.gcn import GCNConv
from archlab.gnn.model import GNN, GNNConfig
from archlab.gnn.readout import global_pool


def test_pairnorm_centres_and_fixes_the_mean_squared_norm():
    x = torch.randn(20, 5, generator=torch.Generator().manual_seed(0)) * 7 + 3
    out = PairNorm(scale=2.0)(x)
    assert torch.allclose(out.mean(0), torch.zeros(5), atol=1e-5)
    assert math.isclose(float(out.pow(2).sum(-1).mean()), 4.0, rel_tol=1e-4)
    individually = PairNorm(individually=True)(x)
    assert torch.allclose(individually.norm(dim=-1), torch.ones(20), atol=1e-4)


def test_gcnii_is_the_formula_of_the_paper(awkward_graph):
    x, edge_index = awkward_graph
    layer = GCNIIConv(5, alpha=0.2, theta=0.5, layer=3)
    x0 = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    smooth = GCNConv(5, 5, bias=False)
    with torch.no_grad():
        smooth.lin.weight.copy_(torch.eye(5))
    support = 0.8 * smooth.forward_ref(x, edge_index) + 0.2 * x0
    beta = math.log(0.5 / 3 + 1)
    expected = (1 - beta) * support + beta * support @ layer.weight
    torch.testing.assert_close(layer(x, x0, edge_index), expected)


def test_jumping_knowledge_modes():
    layers = [torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])]
    assert JumpingKnowledge("last")(layers).tolist() == [[3.0, 2.0]]
    assert JumpingKnowledge("max")(layers).tolist() == [[3.0, 5.0]]
    assert JumpingKnowledge("cat")(layers).tolist() == [[1.0, 5.0, 3.0, 2.0]]


@pytest.mark.parametrize("reduce, ref", [("sum", scatter_sum_ref), ("mean", scatter_mean_ref), ("max", scatter_max_ref)])
def test_readouts_against_dense_references(reduce, ref):
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    batch = torch.tensor([0, 0, 2, 2, 2, 3, 3])  # graph 1 is empty
    torch.testing.assert_close(global_pool(x, batch, 4, reduce=reduce), ref(x, batch, 4))


def test_dirichlet_energy_by_hand():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]])
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    assert float(dirichlet_energy(x, edge_index)) == pytest.approx((25 + 25 + 0 + 0) / 3)


def test_config_errors_name_field_value_and_rule():
    with pytest.raises(ValueError, match="conv='gcnn' is not one of"):
        GNNConfig(conv="gcnn")
    with pytest.raises(ValueError, match="hidden=10 must be divisible by heads=4"):
        GNNConfig(conv="gat", hidden=10)
    with pytest.raises(ValueError, match="n_layers=0 must be >= 1"):
        GNNConfig(n_layers=0)


@pytest.mark.parametrize("conv", ["gcn", "sage", "gat", "gin", "gcnii"])
def test_every_conv_saves_and_loads(tmp_path, awkward_graph, conv):
    x, edge_index = awkward_graph
    torch.manual_seed(0)
    model = GNN(GNNConfig(in_features=5, hidden=8, heads=2, conv=conv, n_layers=3, jk="cat", norm="pairnorm")).eval()
    model.save_pretrained(tmp_path)
    loaded = GNN.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded(x, edge_index), model(x, edge_index))
    assert len(model.layer_states(x, edge_index)) == 4


def test_parameter_count_is_pinned():
    model = GNN(GNNConfig(in_features=32, num_classes=4, hidden=64, n_layers=2))
    assert sum(p.numel() for p in model.parameters()) == 32 * 64 + 64 + 2 * (64 * 64 + 64) + 64 * 4 + 4


def test_residual_connection_adds_each_layers_input(awkward_graph):
    x, edge_index = awkward_graph
    torch.manual_seed(0)
    config = GNNConfig(in_features=5, hidden=8, n_layers=3, dropout=0.0)
    plain = GNN(config)
    residual = GNN(GNNConfig(**{**config.__dict__, "connection": "residual"}))
    residual.load_state_dict(plain.state_dict())
    states = residual.layer_states(x, edge_index)
    for conv, before, after in zip(residual.convs, states, states[1:]):
        torch.testing.assert_close(after, torch.relu(conv(before, edge_index)) + before)
    assert not torch.allclose(plain.layer_states(x, edge_index)[2], states[2])


def test_gin_model_learns_eps_only_when_asked(awkward_graph):
    x, edge_index = awkward_graph
    model = GNN(GNNConfig(in_features=5, hidden=8, conv="gin", train_eps=True))
    model(x, edge_index).sum().backward()
    assert all(conv.eps.grad is not None for conv in model.convs)
    assert "convs.0.eps" not in dict(GNN(GNNConfig(in_features=5, hidden=8, conv="gin")).named_parameters())
