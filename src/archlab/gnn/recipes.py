"""Training recipes of the GNN family: ``archlab train gnn --arch gcn|sage|gat|gin``.

``--data csbm`` (default) trains node classification on a contextual stochastic block model
(``archlab.gnn.data.csbm``, the claims' setup: 1,000 nodes, 4 classes); ``--data EDGES.csv --features
FEATURES.csv`` on the user's graph (``archlab.gnn.data.load_csv``; the feature file needs a ``label``
column); ``--data wl`` trains graph classification on the built-in WL-labelled graph set
(``archlab.gnn.wl.wl_graph_set``; GIN's sum readout). Nodes are split 50 / 20 / 30 into train / val / test
(graphs 70 / 30 into train / test) with the run's seed. ``--fanouts 25,10`` trains on neighbour-sampled
mini-batches of ``train.batch_size`` seed nodes (GraphSAGE's sampler); without it, each step's seeds are
read off the whole graph (full-batch when ``train.batch_size`` covers the training nodes). Under
``torchrun`` the seed nodes (or graphs) of every step are split among the ranks (data-parallel).
``archlab train`` names the architecture ``--arch``; this target also takes ``--model`` as the same option
(``archlab train gnn --model sage``), the spelling of the GNN issue; the last one given wins.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from archlab.errors import UserError
from archlab.gnn.data import csbm, load_csv, split_nodes
from archlab.gnn.model import GNN, GNNConfig
from archlab.gnn.task import GraphClassificationTask, NodeClassificationTask
from archlab.gnn.wl import wl_graph_set
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.task import Task

ARCHS = ("gcn", "sage", "gat", "gin")


@dataclass
class GraphDataConfig:
    """Where the graph comes from: ``source`` is ``"csbm"``, ``"wl"`` or an edge-list CSV path (then ``features``
    is the feature CSV); ``fanouts`` like ``"25,10"`` turns on neighbour sampling ("" for none)."""

    source: str = "csbm"
    features: Optional[str] = None
    fanouts: str = ""
    homophily: float = 0.77
    num_nodes: int = 1000

    def __post_init__(self) -> None:
        if self.source not in ("csbm", "wl") and self.features is None:
            raise ValueError(f"source={self.source!r} is an edge list, which needs features= (a node-feature CSV)")
        parse_fanouts(self.fanouts)

    @property
    def fanout_list(self) -> list[int]:
        return parse_fanouts(self.fanouts)


def parse_fanouts(text: str) -> list[int]:
    """``"25,10"`` -> ``[25, 10]``; ``""`` -> ``[]``."""
    try:
        values = [int(v) for v in text.split(",")] if text.strip() else []
    except ValueError:
        raise ValueError(f"fanouts={text!r} must be comma-separated integers like '25,10'") from None
    if any(v < 1 for v in values):
        raise ValueError(f"fanouts={text!r} must be >= 1 each")
    return values


@dataclass
class GNNRecipe:
    """One architecture of the ``gnn`` target."""

    name: str
    summary = "node classification on a CSBM or your CSV graph; graph classification on the WL set (--data wl)"

    def default_config(self) -> RunConfig:
        return RunConfig(model=GNNConfig(conv=self.name, hidden=64, n_layers=2, dropout=0.5),
                         data=GraphDataConfig(),
                         optim=OptimConfig(lr=1e-2, weight_decay=5e-4, warmup_steps=0, betas=(0.9, 0.999)),
                         train=TrainConfig(steps=200, batch_size=512, eval_every=50, eval_batches=1,
                                           checkpoint_every=100, log_every=10))

    def build_task(self, config: RunConfig) -> Task:
        data, train = config.data, config.train
        generator = torch.Generator().manual_seed(train.seed)
        fanouts = data.fanout_list
        if fanouts and data.source == "wl":
            raise UserError("--fanouts samples node neighbourhoods; graph classification (--data wl) takes "
                            "whole graphs")
        if fanouts and len(fanouts) != config.model.n_layers:
            raise UserError(f"--fanouts {data.fanouts} samples {len(fanouts)} hop(s) for a model of "
                            f"{config.model.n_layers} layers: give one fan-out per layer (Hamilton et al. 2017)")
        if data.source == "wl":
            graphs, labels = wl_graph_set(generator=generator)
            model_cfg = dataclasses.replace(config.model, in_features=1, num_classes=int(labels.max()) + 1,
                                            task="graph")
            order = torch.randperm(len(graphs), generator=generator)
            cut = round(0.7 * len(graphs))
            return GraphClassificationTask(GNN(model_cfg), graphs, labels, train_graphs=order[:cut],
                                           test_graphs=order[cut:], batch_size=train.batch_size, seed=train.seed)
        if data.source == "csbm":
            graph = csbm(num_nodes=data.num_nodes, homophily=data.homophily, generator=generator)
        else:
            graph = load_csv(data.source, data.features)
            if graph.y is None:
                raise UserError(f"{data.features} has no 'label' column: node classification needs labels")
        graph = split_nodes(graph, generator=generator)
        model_cfg = dataclasses.replace(config.model, in_features=graph.x.shape[1], num_classes=graph.num_classes)
        return NodeClassificationTask(GNN(model_cfg), graph, batch_size=train.batch_size, seed=train.seed,
                                      fanouts=fanouts or None)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", dest="arch", choices=ARCHS, default=argparse.SUPPRESS,
                            help="the same as --arch")
        parser.add_argument("--data", metavar="csbm|wl|EDGES.csv", default=None,
                            help="csbm (default), wl (graph classification) or an edge-list CSV (source,target)")
        parser.add_argument("--features", metavar="FEATURES.csv", default=None,
                            help="node features (one row per node, a 'label' column) for an edge-list --data")
        parser.add_argument("--fanouts", metavar="F1,F2", default=None,
                            help="neighbour-sampled mini-batches with these per-layer fan-outs (e.g. 25,10)")

    def apply_arguments(self, config: RunConfig, args: argparse.Namespace) -> RunConfig:
        updates = {}
        if args.data is not None:
            if args.data not in ("csbm", "wl"):
                if not Path(args.data).expanduser().is_file():
                    raise UserError(f"--data {args.data!r} is neither csbm, wl nor an existing edge-list CSV")
                if args.features is None:
                    raise UserError("--data EDGES.csv needs --features FEATURES.csv")
            updates["source"] = args.data
        if args.features is not None:
            updates["features"] = args.features
        if args.fanouts is not None:
            try:
                parse_fanouts(args.fanouts)
            except ValueError as err:
                raise UserError(f"--fanouts: {err}") from None
            updates["fanouts"] = args.fanouts
        if not updates:
            return config
        return dataclasses.replace(config, data=dataclasses.replace(config.data, **updates))


# The family's training targets (``archlab.train.recipe``): {target: {arch: recipe}}.
RECIPES = {"gnn": {name: GNNRecipe(name) for name in ARCHS}}
