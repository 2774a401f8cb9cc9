"""``GNN``: a stack of graph layers for node or graph classification, with the depth fixes as options.

``x (N, in_features) -> encoder (Linear, ReLU) -> n_layers x [conv, (PairNorm), ReLU, (+ residual), dropout]
-> jumping knowledge -> (readout per graph) -> decoder (Linear) -> logits``. ``conv`` picks the layer:
``"gcn"`` (``GCNConv``), ``"sage"`` (``SAGEConv``, mean), ``"gat"`` (``GATConv``, ``heads`` heads of
``hidden / heads`` concatenated), ``"gin"`` (``GINConv`` with the paper's two-layer MLP; ``aggr`` may be set to
``"mean"`` / ``"max"`` for the expressivity claim; ``train_eps=True`` learns its ε, GIN-ε, else GIN-0) or
``"gcnii"`` (``GCNIIConv``, whose initial residual is the encoder's output ``H^(0)``, Chen et al. 2020).
``connection="residual"`` adds each layer's input to its output (Kipf & Welling 2017, appendix B);
``norm="pairnorm"`` applies ``PairNorm`` after each conv. ``task="graph"`` pools each graph's nodes
(``readout``) before the decoder. ``layer_states`` returns the representation after
every layer, for the Dirichlet energy of ``gnn.oversmoothing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch import Tensor, nn
from torch.nn import functional as F

from archlab.core.io import PretrainedMixin
from archlab.core.validation import check_at_least, check_choices
from archlab.gnn.depth import JK_MODES, GCNIIConv, JumpingKnowledge, PairNorm
from archlab.gnn.gat import GATConv
from archlab.gnn.gcn import GCNConv, gcn_plan
from archlab.gnn.gin import GINConv, gin_mlp
from archlab.gnn.message_passing import AGGREGATIONS, check_edge_index
from archlab.gnn.readout import READOUTS, global_pool
from archlab.gnn.sage import SAGEConv

CONVS = ("gcn", "sage", "gat", "gin", "gcnii")


@dataclass
class GNNConfig:
    in_features: int = 32
    num_classes: int = 4
    hidden: int = 64
    n_layers: int = 2
    conv: str = "gcn"
    heads: int = 4
    aggr: str = "sum"
    train_eps: bool = False
    connection: str = "none"
    norm: str = "none"
    jk: str = "last"
    dropout: float = 0.5
    alpha: float = 0.1
    theta: float = 0.5
    task: str = "node"
    readout: str = "sum"

    def __post_init__(self) -> None:
        check_at_least(self, 1, "in_features", "num_classes", "hidden", "n_layers", "heads")
        check_choices(self, dict(conv=CONVS, aggr=AGGREGATIONS, connection=("none", "residual"),
                                 norm=("none", "pairnorm"), jk=JK_MODES, task=("node", "graph"), readout=READOUTS),
                      quote=True)
        if self.conv == "gat" and self.hidden % self.heads:
            raise ValueError(f"hidden={self.hidden} must be divisible by heads={self.heads} for conv='gat'")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")


def _conv(config: GNNConfig, layer: int) -> nn.Module:
    d = config.hidden
    if config.conv == "gcn":
        return GCNConv(d, d)
    if config.conv == "sage":
        return SAGEConv(d, d, aggr="mean")
    if config.conv == "gat":
        return GATConv(d, d // config.heads, heads=config.heads)
    if config.conv == "gin":
        return GINConv(gin_mlp(d, d), aggr=config.aggr, train_eps=config.train_eps)
    return GCNIIConv(d, alpha=config.alpha, theta=config.theta, layer=layer)


class GNN(PretrainedMixin, nn.Module):
    """Node classification ``(N, F) -> (N, C)`` or graph classification ``(N, F), batch (N,) -> (G, C)``."""

    config_class = GNNConfig

    def __init__(self, config: GNNConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = nn.Linear(config.in_features, config.hidden)
        self.convs = nn.ModuleList(_conv(config, layer + 1) for layer in range(config.n_layers))
        self.norms = nn.ModuleList(PairNorm() if config.norm == "pairnorm" else nn.Identity()
                                   for _ in range(config.n_layers))
        self.jk = JumpingKnowledge(config.jk)
        width = config.hidden * (config.n_layers if config.jk == "cat" else 1)
        self.decoder = nn.Linear(width, config.num_classes)

    def layer_states(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        """The node representations after the encoder and after each layer: ``n_layers + 1`` of ``(N, hidden)``."""
        h = F.relu(self.encoder(x))  # (N, hidden)
        h = F.dropout(h, self.config.dropout, self.training)
        h0, states = h, [h]
        plan = None
        if self.config.conv in ("gcn", "gcnii"):  # one normalisation of the graph for every layer
            check_edge_index(edge_index, x.shape[0])
            plan = gcn_plan(edge_index, x.shape[0], dtype=h.dtype)
        for conv, norm in zip(self.convs, self.norms):
            if isinstance(conv, GCNIIConv):
                out = conv(h, h0, edge_index, plan=plan)
            elif isinstance(conv, GCNConv):
                out = conv(h, edge_index, plan=plan)
            else:
                out = conv(h, edge_index)
            out = F.relu(norm(out))
            if self.config.connection == "residual":
                out = out + h
            h = F.dropout(out, self.config.dropout, self.training)
            states.append(h)
        return states

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                num_graphs: Optional[int] = None) -> Tensor:
        h = self.jk(self.layer_states(x, edge_index)[1:])  # (N, hidden) or (N, n_layers * hidden)
        if self.config.task == "graph":
            if batch is None:
                raise ValueError("task='graph' needs batch, the graph of each node")
            h = global_pool(h, batch, num_graphs, reduce=self.config.readout)  # (G, width)
        return self.decoder(h)
