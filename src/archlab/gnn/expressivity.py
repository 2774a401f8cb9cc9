"""``gnn.wl-expressivity``: sum aggregation separates what mean and max cannot; no message-passing network
separates what 1-WL cannot (Xu, Hu, Leskovec, Jegelka 2019).

Setup (claims reference §5c):

1. Multisets. A centre node with constant feature ``c`` hears the neighbour multiset ``{a, a}`` or ``{a}``
   (mean sees the same proportion), then ``{a, a, b}`` or ``{a, b, b}`` (max sees the same set); features
   ``a``, ``b``, ``c`` are random vectors. One ``GINConv`` with a random two-layer MLP and sum, mean or max
   aggregation gives the centre's embedding in each graph of a pair; the largest difference over 5 weight
   draws is reported per aggregation and pair.
2. 1-WL limit. A 6-cycle and two triangles (both 2-regular, one colour under refinement) with constant
   features, through every network here (GCN, GraphSAGE, GAT, GIN, GCNII; 3 layers, sum readout, random
   weights, 5 draws each): the largest difference of the two graph embeddings.
3. Learning. 100 Erdos-Renyi graphs (400 at full scale; 8-16 nodes, p = 0.25, constant features) labelled
   by a hash of their colour histograms after 2 refinement rounds into 2 classes (``archlab.gnn.wl``); 3-layer
   GIN-style networks (width 64, sum readout) with sum, mean or max neighbour aggregation are trained full-batch
   through the one loop (``quick_fit``, AdamW lr 1e-2, 300 steps; 1000 at full scale), and their training
   accuracy compared (measured in training mode: BatchNorm normalises with the statistics of the whole
   training set, the batch it fitted).
   Measured while building it: 200 graphs and 150 steps left GIN at 0.92 / 0.945 (seed 0, eval / training
   mode), 300 steps at 0.975, 0.995, 0.99 (seeds 0-2), too slow for the quick budget; 100 graphs and 200 steps
   0.98 (seed 0); mean and max read 0.53 (they see graph sizes only). This setup, seeds 0-2: sum 0.99, 0.99,
   1.0; mean 0.61, 0.59, 0.54; max 0.60, 0.59, 0.54; 27-83 s each on the shared, loaded 2-core machine.
"""

from __future__ import annotations

import torch
from torch import nn

from archlab.gnn.data import Graph, collate
from archlab.gnn.gin import GINConv
from archlab.gnn.model import GNN, GNNConfig
from archlab.gnn.task import GraphClassificationTask
from archlab.gnn.wl import cycle, wl_graph_set
from archlab.lab.claim import Evidence, Scale
from archlab.lab.experiment import quick_fit
from archlab.lab.figures import new_figure

DRAWS = 5
MPNNS = ("gcn", "sage", "gat", "gin", "gcnii")


def _star(centre: torch.Tensor, leaves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([centre, *leaves])  # (1 + k, F): node 0 is the centre
    edge_index = torch.tensor([list(range(1, len(leaves) + 1)), [0] * len(leaves)])  # leaves -> centre
    return x, edge_index


@torch.no_grad()
def multiset_differences(seed: int) -> dict[str, dict[str, float]]:
    """``{aggr: {pair: largest |Δ| of the centre's embedding}}`` over ``DRAWS`` random layers."""
    g = torch.Generator().manual_seed(seed)
    a, b, c = torch.randn(3, 8, generator=g)
    pairs = {"{a,a} vs {a}": (_star(c, [a, a]), _star(c, [a])),
             "{a,a,b} vs {a,b,b}": (_star(c, [a, a, b]), _star(c, [a, b, b]))}
    out: dict[str, dict[str, float]] = {}
    for aggr in ("sum", "mean", "max"):
        out[aggr] = {}
        for name, (first, second) in pairs.items():
            worst = 0.0
            for draw in range(DRAWS):
                torch.manual_seed(1000 * seed + draw)
                conv = GINConv(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16)), aggr=aggr)
                worst = max(worst, float((conv(*first)[0] - conv(*second)[0]).abs().max()))
            out[aggr][name] = worst
    return out


@torch.no_grad()
def cycle_differences(seed: int) -> dict[str, float]:
    """``{conv: largest |Δ| of the graph embeddings of C6 and 2 x C3}`` over ``DRAWS`` random networks."""
    hexagon = Graph(torch.ones(6, 1), cycle(6))
    triangles = Graph(torch.ones(6, 1), torch.cat([cycle(3), cycle(3, offset=3)], dim=1))
    batch = collate([hexagon, triangles])
    out = {}
    for conv in MPNNS:
        worst = 0.0
        for draw in range(DRAWS):
            torch.manual_seed(1000 * seed + draw)
            model = GNN(GNNConfig(in_features=1, num_classes=8, hidden=16, heads=2, n_layers=3, conv=conv,
                                  task="graph", readout="sum", dropout=0.0)).eval()
            logits = model(batch.x, batch.edge_index, batch.batch, 2)  # (2, 8)
            worst = max(worst, float((logits[0] - logits[1]).abs().max()))
        out[conv] = worst
    return out


def wl_training_accuracy(seed: int, aggr: str, *, steps: int, num_graphs: int) -> float:
    """Training accuracy of a 3-layer GIN-style network with ``aggr`` on the WL-labelled graph set."""
    graphs, labels = wl_graph_set(num_graphs=num_graphs, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model = GNN(GNNConfig(in_features=1, num_classes=2, hidden=64, n_layers=3, conv="gin", aggr=aggr,
                          task="graph", readout="sum", dropout=0.0))
    everything = torch.arange(len(graphs))
    task = GraphClassificationTask(model, graphs, labels, train_graphs=everything, test_graphs=everything,
                                   batch_size=len(graphs), seed=seed)
    quick_fit(task, steps=steps, lr=1e-2, batch_size=len(graphs), seed=seed, betas=(0.9, 0.999))
    with torch.no_grad():  # training mode: batch statistics of the whole training set, as it was fitted
        return float(task.evaluate({"graphs": everything})["val_accuracy"])


def wl_expressivity(scale: Scale, seed: int) -> Evidence:
    steps, num_graphs = (300, 100) if scale is Scale.QUICK else (1000, 400)
    multisets = multiset_differences(seed)
    cycles = cycle_differences(seed)
    accuracy = {aggr: wl_training_accuracy(seed, aggr, steps=steps, num_graphs=num_graphs)
                for aggr in ("sum", "mean", "max")}
    sum_separates = min(multisets["sum"].values())
    mean_blind = multisets["mean"]["{a,a} vs {a}"]
    max_blind = multisets["max"]["{a,a,b} vs {a,b,b}"]
    cycle_worst = max(cycles.values())

    fig, (ax_m, ax_a) = new_figure(1, 2, width=11)
    labels = [f"{aggr}\n{pair}" for aggr in multisets for pair in multisets[aggr]]
    values = [max(multisets[aggr][pair], 1e-12) for aggr in multisets for pair in multisets[aggr]]
    values += [max(v, 1e-12) for v in cycles.values()]
    labels += [f"{conv}\nC6 vs 2xC3" for conv in cycles]
    ax_m.bar(range(len(values)), values)
    ax_m.set_yscale("log")
    ax_m.axhline(1e-6, color="red", ls="--", label="1e-6")
    ax_m.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    ax_m.set(ylabel="largest |embedding difference|", title="what each network can tell apart")
    ax_m.legend(fontsize=8)
    ax_a.bar(range(3), list(accuracy.values()))
    ax_a.set_xticks(range(3), [f"{a} aggregation" for a in accuracy])
    ax_a.set(ylabel="training accuracy", ylim=(0, 1), title=f"WL-hash labels, {num_graphs} graphs")
    holds = (sum_separates > 1e-3 and mean_blind < 1e-6 and max_blind < 1e-6 and cycle_worst < 1e-6
             and accuracy["sum"] >= 0.98 and accuracy["mean"] <= accuracy["sum"] - 0.10
             and accuracy["max"] <= accuracy["sum"] - 0.10)
    return Evidence(
        metrics={"sum_smallest_separation": sum_separates, "mean_difference_aa_vs_a": mean_blind,
                 "max_difference_aab_vs_abb": max_blind, "mpnn_largest_difference_c6_vs_2c3": cycle_worst,
                 "train_accuracy_sum": accuracy["sum"], "train_accuracy_mean": accuracy["mean"],
                 "train_accuracy_max": accuracy["max"]},
        holds=holds, figure=fig, key_metric="train_accuracy_sum",
        details={"multisets": multisets, "cycles": cycles},
    )
