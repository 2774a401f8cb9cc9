"""``gnn.message-passing-helps``: averaging over neighbours helps when neighbours share the label (homophily)
and stops helping when they do not (Kipf & Welling 2017; Zhu et al. 2020, "Beyond Homophily in Graph Neural
Networks"; Ma et al. 2022, "Is Homophily a Necessity for Graph Neural Networks?").

Setup: the CSBM of ``gnn.oversmoothing`` (1,000 nodes, 4 classes, degree 6.5, 32 features, class means 1 apart,
``sigma = 1``) at edge homophily 0.77 (the reference's ``p_in = 0.02``, ``p_out = 0.002``) and at 0.10
(heterophilous: a node's neighbours mostly carry the three other labels, each about equally). A 2-layer GCN
and an MLP of the same widths on the node features alone (the same ``GNN`` with the graph's edges removed: no
neighbour is ever read, and the self-loop leaves ``Â = I``) are trained full-batch through the one loop
(100 steps, AdamW lr 1e-2, weight decay 5e-4, no dropout, width 32) and compared on the test nodes.
"""

from __future__ import annotations

import torch

from archlab.gnn.data import Graph
from archlab.gnn.model import GNNConfig
from archlab.gnn.oversmoothing import csbm_task_graph, train_accuracy
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure

HOMOPHILY = {"homophilous": 0.77, "heterophilous": 0.10}


def without_edges(graph: Graph) -> Graph:
    """``graph`` with no edges: a GCN on it sees each node's own features only (an MLP)."""
    return Graph(graph.x, torch.zeros(2, 0, dtype=torch.long), graph.y, graph.train_nodes, graph.val_nodes,
                 graph.test_nodes)


def message_passing_helps(scale: Scale, seed: int) -> Evidence:
    steps, width = (100, 32) if scale is Scale.QUICK else (200, 64)
    config = GNNConfig(in_features=32, num_classes=4, hidden=width, n_layers=2, conv="gcn", dropout=0.0)
    accuracy = {}
    for name, h in HOMOPHILY.items():
        graph = csbm_task_graph(seed, homophily=h)
        accuracy[name] = {"GCN": train_accuracy(config, graph, seed=seed, steps=steps),
                          "MLP": train_accuracy(config, without_edges(graph), seed=seed, steps=steps)}
    gain = {name: acc["GCN"] - acc["MLP"] for name, acc in accuracy.items()}
    fig, ax = new_figure()
    for k, model in enumerate(("MLP", "GCN")):
        ax.bar([i + 0.4 * k for i in range(2)], [accuracy[n][model] for n in HOMOPHILY], width=0.4, label=model)
    ax.set_xticks([0.2, 1.2], [f"{n} (h = {h})" for n, h in HOMOPHILY.items()])
    ax.axhline(0.25, color="gray", ls=":", label="chance")
    ax.set(ylabel="test accuracy", title="GCN vs MLP on a CSBM")
    ax.legend(fontsize=8)
    return Evidence(
        metrics={"gcn_minus_mlp_homophilous": gain["homophilous"], "gcn_minus_mlp_heterophilous": gain["heterophilous"],
                 "gcn_homophilous": accuracy["homophilous"]["GCN"], "mlp_homophilous": accuracy["homophilous"]["MLP"],
                 "gcn_heterophilous": accuracy["heterophilous"]["GCN"],
                 "mlp_heterophilous": accuracy["heterophilous"]["MLP"]},
        holds=gain["homophilous"] >= 0.10 and gain["heterophilous"] <= 0.02,
        figure=fig, key_metric="gcn_minus_mlp_homophilous",
    )
