"""Training tasks of the GNN family for the one loop (``archlab.train``): node and graph classification.

``NodeClassificationTask``: one graph with a train / val / test split of its nodes. The batch of step ``s``
is ``{"seeds", "step"}``: ``batch_size`` training nodes drawn from the ``"train"`` stream of the run's seed
(all of them, in a fixed order, when ``batch_size`` covers the split: full-batch training). The loop splits a
batch by its seeds (``batch_size`` / ``split``), so data-parallel ranks and accumulation micro-batches each
take a slice of the seed nodes and keep the whole graph. With ``fanouts`` set, each piece runs the model on
the neighbour-sampled subgraph of its seeds (``archlab.gnn.sampler``), its draws from a stream named by the
step and the piece's first seed, so a piece samples the same subgraph on one process or on many; without,
on the whole graph (full-batch). The loss is the mean cross-entropy over the piece's seeds.

``GraphClassificationTask``: a set of graphs (``GraphBatch``) split into train and test graphs; the batch is
``{"graphs"}``, graph ids, and it splits by graph.
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import Tensor
from torch.nn import functional as F

from archlab.data.streams import step_generator
from archlab.gnn.data import Graph, GraphBatch, collate
from archlab.gnn.model import GNN
from archlab.gnn.sampler import NeighborSampler
from archlab.train.task import Task, split_batch


def _draw(pool: Tensor, size: int, seed: int, step: int) -> Tensor:
    if size >= pool.shape[0]:
        return pool
    return pool[torch.randperm(pool.shape[0], generator=step_generator(seed, "train", step))[:size]]


class NodeClassificationTask(Task):
    """Node classification on one ``Graph`` with a split; see the module docstring."""

    def __init__(self, model: GNN, graph: Graph, *, batch_size: int, seed: int,
                 fanouts: Optional[list[int]] = None) -> None:
        if graph.y is None or graph.train_nodes is None:
            raise ValueError("the graph needs labels y and a node split (archlab.gnn.data.split_nodes)")
        self.model, self.graph, self.batch_size, self.seed = model, graph, batch_size, seed
        self.sampler = NeighborSampler(graph.edge_index, graph.num_nodes, fanouts) if fanouts else None

    def train_batch(self, step: int, substep: int = 0) -> dict:
        seeds = _draw(self.graph.train_nodes, self.batch_size, self.seed, step)
        return {"seeds": seeds, "step": torch.tensor(step)}

    def batch_size(self, batch: dict) -> int:
        return batch["seeds"].shape[0]

    def split(self, batch: dict, parts: int) -> list[dict]:
        return [{**batch, "seeds": piece} for piece in split_batch(batch["seeds"], parts)]

    def logits(self, seeds: Tensor, step: int) -> Tensor:
        """The model's logits at ``seeds`` ``(S, C)``: on their sampled subgraph, or on the whole graph."""
        device = next(self.model.parameters()).device
        g = self.graph
        if self.sampler is None:
            return self.model(g.x.to(device), g.edge_index.to(device))[seeds.to(device)]
        stream = f"sample-{int(seeds[0])}" if seeds.numel() else "sample"
        sub = self.sampler.sample(seeds, step_generator(self.seed, stream, step))
        out = self.model(g.x[sub.nodes].to(device), sub.edge_index.to(device))
        return out[: sub.num_seeds]

    def loss(self, batch: dict, player: str) -> Tensor:
        seeds = batch["seeds"]
        return F.cross_entropy(self.logits(seeds, int(batch["step"])), self.graph.y[seeds].to(self.device))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def eval_batches(self) -> Iterable[dict]:
        return [{"seeds": self.graph.val_nodes, "step": torch.tensor(-1)}]

    @torch.no_grad()
    def accuracy(self, nodes: Tensor) -> float:
        """Accuracy at ``nodes`` with the whole graph as input (no sampling), in eval mode."""
        was_training = self.model.training
        self.model.eval()
        g = self.graph
        predicted = self.model(g.x.to(self.device), g.edge_index.to(self.device))[nodes.to(self.device)].argmax(-1)
        self.model.train(was_training)
        return float((predicted.cpu() == g.y[nodes]).float().mean())

    def evaluate(self, batch: dict) -> dict[str, Tensor]:
        """``val_loss`` and ``val_accuracy`` over the validation nodes, full graph."""
        seeds = batch["seeds"]
        g = self.graph
        logits = self.model(g.x.to(self.device), g.edge_index.to(self.device))[seeds.to(self.device)]
        target = g.y[seeds].to(self.device)
        return {"val_loss": F.cross_entropy(logits, target),
                "val_accuracy": (logits.argmax(-1) == target).float().mean()}


class GraphClassificationTask(Task):
    """Graph classification over ``graphs`` (a ``GraphBatch`` of many graphs with labels ``y``)."""

    def __init__(self, model: GNN, graphs: list[Graph], labels: Tensor, *, train_graphs: Tensor,
                 test_graphs: Tensor, batch_size: int, seed: int) -> None:
        self.model, self.graphs, self.labels = model, graphs, labels
        self.train_graphs, self.test_graphs, self.batch_size, self.seed = train_graphs, test_graphs, batch_size, seed
        self._last: Optional[tuple[Tensor, GraphBatch]] = None

    def train_batch(self, step: int, substep: int = 0) -> dict:
        return {"graphs": _draw(self.train_graphs, self.batch_size, self.seed, step)}

    def batch_size(self, batch: dict) -> int:
        return batch["graphs"].shape[0]

    def split(self, batch: dict, parts: int) -> list[dict]:
        return [{"graphs": piece} for piece in split_batch(batch["graphs"], parts)]

    def union(self, ids: Tensor) -> GraphBatch:
        """The disjoint union of graphs ``ids`` (the last one is kept: full-batch steps reuse it)."""
        if self._last is None or not torch.equal(self._last[0], ids):
            self._last = (ids, collate([self.graphs[i] for i in ids.tolist()], self.labels[ids]))
        return self._last[1]

    def logits(self, union: GraphBatch) -> Tensor:
        device = next(self.model.parameters()).device
        return self.model(union.x.to(device), union.edge_index.to(device), union.batch.to(device),
                          union.num_graphs)

    def loss(self, batch: dict, player: str) -> Tensor:
        union = self.union(batch["graphs"])
        return F.cross_entropy(self.logits(union), union.y.to(next(self.model.parameters()).device))

    def eval_batches(self) -> Iterable[dict]:
        return [{"graphs": self.test_graphs}]

    def evaluate(self, batch: dict) -> dict[str, Tensor]:
        union = self.union(batch["graphs"])
        logits = self.logits(union)
        target = union.y.to(logits.device)
        return {"val_loss": F.cross_entropy(logits, target),
                "val_accuracy": (logits.argmax(-1) == target).float().mean()}
