"""``gnn.neighbor-explosion``: the exact receptive field of a deep GNN grows to much of a hub-heavy graph;
GraphSAGE's sampled computation tree stays bounded (Hamilton et al. 2017).

Setup (claims reference §5b): a Barabasi-Albert graph (Barabasi & Albert 1999) of 10,000 nodes, each new
node attaching ``m = 5`` edges (stored in both directions), drawn by networkx from the seed. For 200 random
seed nodes: the exact L-hop receptive field (``receptive_fields``, L = 1 .. 4), and the size of the subgraph
``NeighborSampler`` samples around each seed alone with fan-outs ``[25, 10]`` (2 layers), whose hard cap is
``1 + 25 + 25 · 10 = 276`` nodes; the figure adds the sampled tree at ``[25, 10, 10]`` beside the exact fields.
"""

from __future__ import annotations

import statistics

import networkx as nx
import torch

from archlab.gnn.data import from_networkx
from archlab.gnn.sampler import NeighborSampler, receptive_fields
from archlab.lab.claim import Evidence, Scale
from archlab.lab.figures import new_figure

FANOUTS = [25, 10]
CAP = 1 + 25 + 25 * 10


def neighbor_explosion(scale: Scale, seed: int) -> Evidence:
    nodes, seeds = (10_000, 200) if scale is Scale.QUICK else (100_000, 1000)
    graph = from_networkx(nx.barabasi_albert_graph(nodes, 5, seed=seed))
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(nodes, generator=generator)[:seeds]
    exact = {hops: receptive_fields(graph.edge_index, nodes, chosen, hops).float() for hops in (1, 2, 3, 4)}
    sampled = {}
    for fanouts in (FANOUTS, FANOUTS + [10]):
        sampler = NeighborSampler(graph.edge_index, nodes, fanouts)
        sampled[len(fanouts)] = [sampler.sample(chosen[k: k + 1], generator).nodes.numel() for k in range(seeds)]
    tree = sampled[2]
    ratio = float(exact[3].mean()) / statistics.mean(tree)

    fig, (ax_l, ax_h) = new_figure(1, 2, width=11)
    ax_l.semilogy([1, 2, 3, 4], [float(exact[h].mean()) for h in (1, 2, 3, 4)], "o-", label="exact receptive field")
    ax_l.semilogy([2, 3], [statistics.mean(sampled[2]), statistics.mean(sampled[3])], "s-",
                  label="sampled tree (25, 10[, 10])")
    ax_l.axhline(nodes, color="gray", ls=":", label="whole graph")
    ax_l.set(xlabel="layers (hops)", ylabel="nodes read per seed (mean)", title="Barabasi-Albert, m = 5")
    ax_l.legend(fontsize=8)
    ax_h.hist(exact[3].tolist(), bins=30, alpha=0.6, label="exact 3-hop field")
    ax_h.hist(tree, bins=30, alpha=0.6, label="sampled tree [25, 10]")
    ax_h.axvline(CAP, color="red", ls="--", label=f"cap {CAP}")
    ax_h.set(xlabel="nodes", ylabel="seed nodes", title="per-seed sizes")
    ax_h.legend(fontsize=8)
    return Evidence(
        metrics={"exact_3hop_over_sampled_tree": ratio, "exact_3hop_mean": float(exact[3].mean()),
                 "sampled_tree_mean": statistics.mean(tree), "sampled_tree_max": max(tree),
                 "exact_2hop_mean": float(exact[2].mean()), "exact_4hop_mean": float(exact[4].mean())},
        holds=ratio >= 10 and max(tree) <= CAP,
        figure=fig, key_metric="exact_3hop_over_sampled_tree",
    )
