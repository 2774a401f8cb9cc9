"""Neighbour sampling for mini-batch GraphSAGE (Hamilton et al. 2017, Algorithm 2), and exact receptive fields.

A K-layer network's output at a node depends on its whole K-hop in-neighbourhood, which on a graph with hubs
grows to most of the graph ("neighbour explosion"). GraphSAGE bounds it: starting from the seed nodes, each
hop ``k`` lets every node first reached at hop ``k - 1`` keep at most ``fanouts[k - 1]`` of its in-neighbours,
drawn uniformly without replacement (all of them when it has fewer). Nodes are deduplicated, so one seed's
sampled subgraph never holds more than ``1 + f_1 + f_1 f_2 + ...`` nodes (276 for ``[25, 10]``).

``NeighborSampler.sample(seeds, generator)`` returns a ``SampledSubgraph``: the nodes (seeds first), the
sampled edges in local ids, ready for any layer's ``forward(x[nodes], edge_index)``; the outputs of the
first ``num_seeds`` rows are the seeds'. ``receptive_fields`` counts the exact L-hop in-neighbourhoods.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from archlab.core.validation import check_at_least


@dataclass
class SampledSubgraph:
    """``nodes`` ``(n,)`` global ids (the ``num_seeds`` seeds first, then each hop's new nodes), ``edge_index``
    ``(2, e)`` in local ids (positions in ``nodes``), ``hop_sizes`` the number of new nodes per hop (seeds first)."""

    nodes: Tensor
    edge_index: Tensor
    num_seeds: int
    hop_sizes: list[int]


def _unique_in_order(ids: Tensor) -> Tensor:
    """``ids`` without repeats, each kept at its first position."""
    values, inverse = torch.unique(ids, return_inverse=True)
    first = torch.full((values.shape[0],), ids.shape[0], dtype=torch.long).scatter_reduce(
        0, inverse, torch.arange(ids.shape[0]), reduce="amin")
    return ids[first.sort().values]


class NeighborSampler:
    """Per-hop uniform sampling of in-neighbours over one graph ``edge_index`` ``(2, E)`` of ``num_nodes``."""

    def __init__(self, edge_index: Tensor, num_nodes: int, fanouts: list[int]) -> None:
        if not fanouts:
            raise ValueError("fanouts=[] must name at least one hop")
        for hop, f in enumerate(fanouts):
            check_at_least({f"fanouts[{hop}]": f}, 1)
        self.num_nodes, self.fanouts = num_nodes, list(fanouts)
        source, target = edge_index
        order = torch.argsort(target, stable=True)
        self.sources = source[order]  # (E,): in-neighbours grouped by target (CSR columns)
        self.indptr = torch.zeros(num_nodes + 1, dtype=torch.long)
        self.indptr[1:] = torch.bincount(target, minlength=num_nodes).cumsum(0)  # (N + 1,)

    def _in_edges(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """Every in-edge of ``nodes``: (position of the receiving node in ``nodes``, edge slot in ``sources``)."""
        start, count = self.indptr[nodes], self.indptr[nodes + 1] - self.indptr[nodes]  # (n,) each
        owner = torch.repeat_interleave(torch.arange(nodes.shape[0]), count)  # (m,)
        offset = torch.arange(owner.shape[0]) - torch.repeat_interleave(count.cumsum(0) - count, count)  # (m,)
        return owner, start[owner] + offset

    def sample(self, seeds: Tensor, generator: torch.Generator) -> SampledSubgraph:
        local = torch.full((self.num_nodes,), -1, dtype=torch.long)  # global id -> position in nodes
        seeds = _unique_in_order(seeds)
        local[seeds] = torch.arange(seeds.shape[0])
        nodes, frontier, edges, hop_sizes = [seeds], seeds, [], [seeds.shape[0]]
        size = seeds.shape[0]
        for fanout in self.fanouts:
            owner, slot = self._in_edges(frontier)
            keys = torch.rand(owner.shape[0], generator=generator)  # a random rank among each node's in-edges
            order = torch.argsort(owner * 2 + keys, stable=True)  # grouped by owner, shuffled within (keys < 1)
            owner, slot = owner[order], slot[order]
            count = torch.bincount(owner, minlength=frontier.shape[0])
            rank = torch.arange(owner.shape[0]) - torch.repeat_interleave(count.cumsum(0) - count, count)
            keep = rank < fanout
            owner, neighbour = owner[keep], self.sources[slot[keep]]  # (m',): sampled edges neighbour -> owner
            new = torch.unique(neighbour[local[neighbour] < 0])
            local[new] = torch.arange(size, size + new.shape[0])
            size += new.shape[0]
            edges.append(torch.stack([local[neighbour], local[frontier[owner]]]))  # (2, m') local ids
            nodes.append(new)
            hop_sizes.append(new.shape[0])
            frontier = new
        return SampledSubgraph(torch.cat(nodes), torch.cat(edges, dim=1), seeds.shape[0], hop_sizes)


def receptive_fields(edge_index: Tensor, num_nodes: int, nodes: Tensor, hops: int) -> Tensor:
    """For each of ``nodes`` ``(S,)``, the number of nodes within ``hops`` in-edges of it (itself included): what
    a ``hops``-layer message-passing network reads to compute its output. Returns ``(S,)``."""
    ones = torch.ones(edge_index.shape[1])
    adjacency = torch.sparse_coo_tensor(edge_index, ones, (num_nodes, num_nodes),
                                        check_invariants=True).coalesce()  # [s, t] = 1 for s -> t
    reached = torch.zeros(num_nodes, nodes.shape[0])
    reached[nodes, torch.arange(nodes.shape[0])] = 1.0  # (N, S): column k marks what reaches nodes[k]
    for _ in range(hops):
        reached = ((reached + torch.sparse.mm(adjacency, reached)) > 0).float()  # (N, N) @ (N, S): one more hop
    return reached.sum(dim=0).long()
