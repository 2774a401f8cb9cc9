"""Graph neural networks: a message-passing base, GCN, GraphSAGE with neighbour sampling, GAT, GIN, the fixes for
depth (PairNorm, residual and initial-residual connections, jumping knowledge), graph readouts, graph data, and
the claims about oversmoothing, neighbour explosion and Weisfeiler-Leman expressivity."""

from archlab.gnn.gat import GATConv, GATOutput
from archlab.gnn.gcn import GCNConv
from archlab.gnn.gin import GINConv
from archlab.gnn.message_passing import MessagePassing
from archlab.gnn.sage import SAGEConv

__all__ = ["GATConv", "GATOutput", "GCNConv", "GINConv", "MessagePassing", "SAGEConv"]
