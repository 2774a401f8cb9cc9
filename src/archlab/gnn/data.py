"""Graph data: a contextual stochastic block model, networkx graphs, a user's edge list and feature CSV, and
PyTorch Geometric ``Data`` objects, all as one ``Graph``.

The contextual stochastic block model (CSBM; Deshpande, Sen, Montanari, Mossel 2018, "Contextual Stochastic
Block Models") draws ``num_classes`` equal communities; an undirected edge joins two nodes of one community
with probability ``p_in`` and of two communities with ``p_out``, chosen so that a node has ``degree`` edges
on average of which a fraction ``homophily`` stays inside its community (``homophily = 1/num_classes`` is a
graph that carries no class information; below it, heterophily). Node features are the community's mean
(``mean_distance / sqrt(2)`` times a random orthonormal direction, so the means sit ``mean_distance`` apart)
plus ``N(0, sigma² I)`` noise.

CSV files (``load_csv``): the edge list has a header ``source,target`` and one edge per line, node ids from 0;
the feature file has a header and one row per node in id order, the label in a column ``label`` (optional),
every other column a feature. An edge that names a node outside ``[0, N)``, or a line that is not two
integers, raises ``UserError`` naming the file, the line number and the line; duplicate edges are kept (they
count twice in sums and degrees, as in PyG) and a ``UserWarning`` gives their count.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor

from archlab.core.validation import check_at_least, check_positive
from archlab.errors import UserError


@dataclass
class Graph:
    """One graph: node features ``x`` ``(N, F)``, edges ``edge_index`` ``(2, E)`` (source, target), node labels
    ``y`` ``(N,)`` or None, and the node ids of the train / val / test splits (None until ``split_nodes``)."""

    x: Tensor
    edge_index: Tensor
    y: Optional[Tensor] = None
    train_nodes: Optional[Tensor] = None
    val_nodes: Optional[Tensor] = None
    test_nodes: Optional[Tensor] = None

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if self.y is not None and self.y.numel() else 0


def split_nodes(graph: Graph, *, train: float = 0.5, val: float = 0.2, generator: torch.Generator) -> Graph:
    """``graph`` with a random split of its nodes: fractions ``train`` and ``val``, the rest for test."""
    if not (0 < train and 0 <= val and train + val < 1):
        raise ValueError(f"train={train}, val={val} must be > 0, >= 0 and sum to < 1")
    order = torch.randperm(graph.num_nodes, generator=generator)
    a, b = round(train * graph.num_nodes), round((train + val) * graph.num_nodes)
    return replace(graph, train_nodes=order[:a].sort().values, val_nodes=order[a:b].sort().values,
                   test_nodes=order[b:].sort().values)


def csbm(*, num_nodes: int = 1000, num_classes: int = 4, degree: float = 6.5, homophily: float = 0.77,
         features: int = 32, mean_distance: float = 1.0, sigma: float = 1.0,
         generator: torch.Generator) -> Graph:
    """A CSBM graph with labels (no split); see the module docstring. The reference setup of claims.md §5a
    (``p_in = 0.02``, ``p_out = 0.002`` at 1000 nodes, 4 classes) is ``degree=6.5, homophily=0.77``."""
    check_at_least(dict(num_nodes=num_nodes, features=features), 1)
    check_at_least(dict(num_classes=num_classes), 2)
    check_positive(dict(degree=degree, sigma=sigma))
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"homophily={homophily} must be in [0, 1]")
    if features < num_classes:
        raise ValueError(f"features={features} must be >= num_classes={num_classes} (one mean direction each)")
    y = torch.arange(num_nodes) % num_classes
    y = y[torch.randperm(num_nodes, generator=generator)]
    same = num_nodes / num_classes - 1  # possible partners inside a node's community
    other = num_nodes - num_nodes / num_classes
    p_in, p_out = min(1.0, degree * homophily / same), min(1.0, degree * (1 - homophily) / other)
    i, j = torch.triu_indices(num_nodes, num_nodes, offset=1)  # every unordered pair once
    p = torch.where(y[i] == y[j], p_in, p_out)
    keep = torch.rand(p.shape, generator=generator) < p
    i, j = i[keep], j[keep]
    edge_index = torch.stack([torch.cat([i, j]), torch.cat([j, i])])  # (2, 2M): both directions
    directions, _ = torch.linalg.qr(torch.randn(features, num_classes, generator=generator))  # (F, K) orthonormal
    means = (mean_distance / math.sqrt(2)) * directions.T  # (K, F)
    x = means[y] + sigma * torch.randn(num_nodes, features, generator=generator)
    return Graph(x, edge_index, y)


def edge_homophily(graph: Graph) -> float:
    """The fraction of edges whose two ends share a label."""
    source, target = graph.edge_index
    return float((graph.y[source] == graph.y[target]).float().mean())


def from_networkx(nx_graph: Any, *, feature: str = "x", label: str = "y") -> Graph:
    """A networkx graph as a ``Graph``: nodes renumbered 0.. in iteration order, an undirected edge in both
    directions; features from the node attribute ``feature`` (else a column of ones), labels from ``label``."""
    nodes = list(nx_graph.nodes)
    ids = {node: i for i, node in enumerate(nodes)}
    pairs = [(ids[a], ids[b]) for a, b in nx_graph.edges()]
    if not nx_graph.is_directed():
        pairs += [(b, a) for a, b in pairs if a != b]
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T  # (E, 2) -> (2, E)
    data = [nx_graph.nodes[n] for n in nodes]
    if nodes and all(feature in d for d in data):
        x = torch.stack([torch.as_tensor(d[feature], dtype=torch.float32).reshape(-1) for d in data])
    else:
        x = torch.ones(len(nodes), 1)
    y = torch.tensor([int(d[label]) for d in data]) if nodes and all(label in d for d in data) else None
    return Graph(x, edge_index, y)


def from_pyg_data(data: Any) -> Graph:
    """A ``torch_geometric.data.Data`` (``x``, ``edge_index``, optional ``y`` and boolean masks) as a ``Graph``."""
    x = data.x if data.x is not None else torch.ones(data.num_nodes, 1)
    masks = {name: getattr(data, f"{name}_mask", None) for name in ("train", "val", "test")}
    nodes = {f"{name}_nodes": None if m is None else m.nonzero().flatten() for name, m in masks.items()}
    return Graph(x.float(), data.edge_index.long(), None if data.y is None else data.y.long(), **nodes)


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    with path.open(newline="") as handle:
        rows = [(number, row) for number, row in enumerate(csv.reader(handle), start=1) if row]
    if not rows:
        raise UserError(f"{path} is empty; it needs a header line")
    return [h.strip() for h in rows[0][1]], rows[1:]


def load_features(path: str | Path) -> tuple[Tensor, Optional[Tensor]]:
    """Node features ``(N, F)`` and labels ``(N,)`` (None without a ``label`` column) from a feature CSV."""
    path = Path(path)
    header, rows = _read_rows(path)
    label_col = header.index("label") if "label" in header else None
    columns = [i for i in range(len(header)) if i != label_col]
    if not columns:
        raise UserError(f"{path} has no feature columns (header {','.join(header)})")
    x, y = [], []
    for number, row in rows:
        if len(row) != len(header):
            raise UserError(f"{path}, line {number}: {len(row)} values where the header has {len(header)}: "
                            f"{','.join(row)}")
        try:
            x.append([float(row[i]) for i in columns])
            if label_col is not None:
                y.append(int(row[label_col]))
        except ValueError:
            raise UserError(f"{path}, line {number}: not a number: {','.join(row)}") from None
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y) if label_col is not None else None


def load_edges(path: str | Path, num_nodes: int) -> Tensor:
    """The edges ``(2, E)`` of an edge-list CSV over ``num_nodes`` nodes; see the module docstring."""
    path = Path(path)
    header, rows = _read_rows(path)
    if header[:2] != ["source", "target"]:
        raise UserError(f"{path}: the header must start with source,target (got {','.join(header)})")
    pairs = []
    for number, row in rows:
        try:
            source, target = int(row[0]), int(row[1])
        except (ValueError, IndexError):
            raise UserError(f"{path}, line {number}: an edge is two integer node ids: {','.join(row)}") from None
        if not (0 <= source < num_nodes and 0 <= target < num_nodes):
            raise UserError(f"{path}, line {number}: edge {source} -> {target} points outside the {num_nodes} "
                            f"nodes of the feature file (ids 0 to {num_nodes - 1}): {','.join(row)}")
        pairs.append((source, target))
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T  # (E, 2) -> (2, E)
    duplicates = edge_index.shape[1] - torch.unique(edge_index, dim=1).shape[1]
    if duplicates:
        warnings.warn(f"{path}: {duplicates} duplicate edge(s); each copy counts in sums and degrees",
                      UserWarning, stacklevel=2)
    return edge_index


def load_csv(edges: str | Path, features: str | Path) -> Graph:
    """A ``Graph`` from an edge-list CSV and a node-feature CSV (module docstring)."""
    x, y = load_features(features)
    return Graph(x, load_edges(edges, x.shape[0]), y)


@dataclass
class GraphBatch:
    """Many graphs as one disjoint union: ``x`` ``(N, F)``, ``edge_index`` ``(2, E)`` (ids offset per graph),
    ``batch`` ``(N,)`` the graph of each node, ``y`` ``(G,)`` the graph labels (or None)."""

    x: Tensor
    edge_index: Tensor
    batch: Tensor
    y: Optional[Tensor]

    @property
    def num_graphs(self) -> int:
        return int(self.batch.max()) + 1 if self.batch.numel() else 0


def collate(graphs: list[Graph], labels: Optional[Tensor] = None) -> GraphBatch:
    """The disjoint union of ``graphs`` (each graph's node ids shifted past the previous graphs' nodes)."""
    offsets = torch.tensor([0] + [g.num_nodes for g in graphs]).cumsum(0)  # (G + 1,)
    edge_index = torch.cat([g.edge_index + offsets[k] for k, g in enumerate(graphs)], dim=1)
    batch = torch.repeat_interleave(torch.arange(len(graphs)), offsets[1:] - offsets[:-1])  # (N,)
    return GraphBatch(torch.cat([g.x for g in graphs]), edge_index, batch, labels)


def largest_component(graph: Graph) -> Graph:
    """The subgraph induced by the largest weakly connected component (nodes renumbered in id order; the split,
    if any, is dropped)."""
    n = graph.num_nodes
    label = torch.arange(n)
    source, target = graph.edge_index
    while True:  # label propagation: every node takes the smallest label among itself and its neighbours
        smaller = label.scatter_reduce(0, target, label[source], reduce="amin")
        smaller = smaller.scatter_reduce(0, source, smaller[target], reduce="amin")
        if torch.equal(smaller, label):
            break
        label = smaller
    keep = label == torch.bincount(label, minlength=n).argmax()  # (N,)
    new_id = torch.full((n,), -1, dtype=torch.long)
    new_id[keep] = torch.arange(int(keep.sum()))
    edges = keep[source] & keep[target]
    return Graph(graph.x[keep], new_id[graph.edge_index[:, edges]], None if graph.y is None else graph.y[keep])
