"""The GNN family's representative model for its atlas page: a two-layer GCN node classifier on a seeded random
graph of 200 nodes and 1,000 edges (the hook ``representative_model`` of ``archlab.atlas.anatomy``)."""

from __future__ import annotations

import torch

from archlab.gnn.model import GNN, GNNConfig


def representative_model() -> tuple[GNN, tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = GNN(GNNConfig(in_features=32, num_classes=4, hidden=64, n_layers=2, conv="gcn"))
    x = torch.randn(200, 32, generator=generator)  # (N, F)
    edge_index = torch.randint(0, 200, (2, 1000), generator=generator)  # (2, E), source -> target
    return model, (x, edge_index)
