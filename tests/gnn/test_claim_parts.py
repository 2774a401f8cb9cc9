"""The deterministic parts the GNN claims rest on: the line fit, the largest component, WL colouring, the
multiset and cycle checks of the expressivity claim."""

import math

import torch

from archlab.gnn.data import Graph, largest_component
from archlab.gnn.expressivity import cycle_differences, multiset_differences
from archlab.gnn.oversmoothing import line_fit
from archlab.gnn.wl import WLColouring, cycle


def test_line_fit_recovers_a_line_and_scores_noise_low():
    slope, r2 = line_fit([1, 2, 3, 4], [1.0, -1.0, -3.0, -5.0])
    assert math.isclose(slope, -2.0) and math.isclose(r2, 1.0)
    assert line_fit([1, 2, 3, 4], [0.0, 1.0, 0.0, 1.0])[1] < 0.5


def test_largest_component_renumbers_its_nodes():
    g = Graph(torch.arange(6.0)[:, None], torch.tensor([[0, 1, 4, 3], [1, 2, 5, 4]]), torch.arange(6))
    big = largest_component(g)  # {0, 1, 2} and {3, 4, 5} tie: the smallest label wins
    assert big.x.flatten().tolist() == [0.0, 1.0, 2.0] and big.edge_index.tolist() == [[0, 1], [1, 2]]


def test_wl_colouring_cannot_tell_a_hexagon_from_two_triangles_but_tells_a_path():
    wl = WLColouring()
    hexagon = Graph(torch.ones(6, 1), cycle(6))
    triangles = Graph(torch.ones(6, 1), torch.cat([cycle(3), cycle(3, offset=3)], dim=1))
    path = Graph(torch.ones(6, 1), torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 5], [1, 0, 2, 1, 3, 2, 4, 3, 5, 4]]))
    assert wl.histogram(hexagon, 3) == wl.histogram(triangles, 3) != wl.histogram(path, 3)


def test_sum_separates_both_multiset_pairs_mean_misses_proportions_max_misses_both():
    d = multiset_differences(0)
    assert min(d["sum"].values()) > 1e-3
    assert d["mean"]["{a,a} vs {a}"] < 1e-6 < d["mean"]["{a,a,b} vs {a,b,b}"]
    assert max(d["max"].values()) < 1e-6


def test_no_message_passing_network_separates_a_hexagon_from_two_triangles():
    assert max(cycle_differences(0).values()) < 1e-6
