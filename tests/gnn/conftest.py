"""Small graphs with the awkward cases: an isolated node, self-loops (one doubled) and duplicate edges."""

import pytest
import torch


@pytest.fixture
def awkward_graph():
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 0, 4, 4, 4, 5, 6, 6],
                               [1, 0, 0, 2, 3, 2, 1, 4, 4, 4, 5, 3, 0, 2]])  # node 7 is isolated
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
    return x, edge_index


@pytest.fixture
def random_graph():
    g = torch.Generator().manual_seed(1)
    return torch.randn(30, 6, generator=g), torch.randint(0, 30, (2, 120), generator=g)
