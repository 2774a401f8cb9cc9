"""1-WL colour refinement (Weisfeiler & Leman 1968) and the WL-labelled graph set of ``gnn.wl-expressivity``.

Colour refinement starts every node with one colour and repeatedly recolours each node by the pair (its
colour, the multiset of its neighbours' colours). Two graphs whose colour histograms differ are
non-isomorphic; a message-passing network with injective aggregation and readout (GIN, Xu et al. 2019,
Theorem 3) separates exactly what the refinement separates, and no message-passing network separates more
(Lemma 2): a 6-cycle and two triangles, both 2-regular, keep one colour forever. ``WLColouring`` keeps one
table from signatures to colours across graphs, so histograms of different graphs are comparable.

``wl_graph_set`` draws Erdos-Renyi graphs with constant node features and labels each by a hash of its colour
histogram after ``iterations`` rounds (CRC-32 of the sorted histogram, modulo ``num_classes``): a label a
sum-aggregating network can learn to read and that mean or max aggregation, blind to multiplicities, cannot.
"""

from __future__ import annotations

import zlib
from collections import Counter

import torch

from archlab.core.validation import check_at_least
from archlab.gnn.data import Graph


class WLColouring:
    """Colour refinement with one signature table shared by every graph it colours."""

    def __init__(self) -> None:
        self.table: dict[tuple, int] = {}

    def colours(self, graph: Graph, iterations: int) -> list[int]:
        """Each node's colour after ``iterations`` rounds."""
        neighbours: list[list[int]] = [[] for _ in range(graph.num_nodes)]
        for source, target in graph.edge_index.T.tolist():
            neighbours[target].append(source)
        colour = [0] * graph.num_nodes
        for round_ in range(iterations):
            signatures = [(round_, colour[v], tuple(sorted(colour[u] for u in neighbours[v])))
                          for v in range(graph.num_nodes)]
            colour = [self.table.setdefault(s, len(self.table)) for s in signatures]
        return colour

    def histogram(self, graph: Graph, iterations: int) -> tuple[tuple[int, int], ...]:
        """The sorted ``(colour, count)`` pairs of ``graph`` after ``iterations`` rounds."""
        return tuple(sorted(Counter(self.colours(graph, iterations)).items()))


def erdos_renyi(num_nodes: int, p: float, generator: torch.Generator) -> Graph:
    """An undirected G(n, p) graph (both directions stored) with one constant feature per node."""
    i, j = torch.triu_indices(num_nodes, num_nodes, offset=1)
    keep = torch.rand(i.shape, generator=generator) < p
    i, j = i[keep], j[keep]
    return Graph(torch.ones(num_nodes, 1), torch.stack([torch.cat([i, j]), torch.cat([j, i])]))


def wl_graph_set(*, num_graphs: int = 200, min_nodes: int = 8, max_nodes: int = 16, p: float = 0.25,
                 iterations: int = 2, num_classes: int = 2, generator: torch.Generator
                 ) -> tuple[list[Graph], torch.Tensor]:
    """``num_graphs`` random graphs and their labels ``(G,)``, the hash of their WL colour histograms (module
    docstring); ``archlab.gnn.data.collate`` makes them one batch."""
    check_at_least(dict(num_graphs=num_graphs, min_nodes=min_nodes, iterations=iterations), 1)
    check_at_least(dict(num_classes=num_classes), 2)
    if max_nodes < min_nodes:
        raise ValueError(f"max_nodes={max_nodes} must be >= min_nodes={min_nodes}")
    sizes = torch.randint(min_nodes, max_nodes + 1, (num_graphs,), generator=generator).tolist()
    graphs = [erdos_renyi(n, p, generator) for n in sizes]
    wl = WLColouring()
    labels = [zlib.crc32(repr(wl.histogram(g, iterations)).encode()) % num_classes for g in graphs]
    return graphs, torch.tensor(labels)


def cycle(num_nodes: int, offset: int = 0) -> torch.Tensor:
    """The edges ``(2, 2n)`` of an undirected cycle on nodes ``offset .. offset + n - 1``."""
    a = torch.arange(num_nodes) + offset
    b = torch.roll(a, -1)
    return torch.stack([torch.cat([a, b]), torch.cat([b, a])])
