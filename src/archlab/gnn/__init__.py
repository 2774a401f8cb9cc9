"""Graph neural networks: a message-passing base, GCN, GraphSAGE with neighbour sampling, GAT, GIN, the fixes for
depth (PairNorm, GCNII's initial residual, jumping knowledge), graph readouts, graph data, and the claims about
oversmoothing, neighbour explosion, homophily and Weisfeiler-Leman expressivity."""

from archlab.gnn.data import Graph, GraphBatch
from archlab.gnn.depth import GCNIIConv, JumpingKnowledge, PairNorm
from archlab.gnn.gat import GATConv, GATOutput
from archlab.gnn.gcn import GCNConv
from archlab.gnn.gin import GINConv
from archlab.gnn.message_passing import MessagePassing
from archlab.gnn.model import GNN, GNNConfig
from archlab.gnn.sage import SAGEConv
from archlab.gnn.sampler import NeighborSampler, SampledSubgraph

__all__ = ["GATConv", "GATOutput", "GCNConv", "GCNIIConv", "GINConv", "GNN", "GNNConfig", "Graph", "GraphBatch",
           "JumpingKnowledge", "MessagePassing", "NeighborSampler", "PairNorm", "SAGEConv", "SampledSubgraph"]
