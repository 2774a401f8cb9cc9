"""``gnn-gcn``: archlab's ``GCNConv`` (converted by ``from_pyg``) against PyTorch Geometric's ``GCNConv``.

A random directed graph of 100,000 nodes and 1,000,000 edges drawn uniformly (with the self-loops and duplicate
edges that come with it), 64 features in and 64 out, fp32 on the CPU, both layers with their defaults (self-loops,
symmetric normalisation recomputed every call: ``cached=False``). The headline ratio is the forward, no grad,
``speedup = PyG / archlab`` (target >= 1.0: archlab no slower); forward + backward (summed output, gradients
of input and weights) is timed too and reported in ``extra`` with the largest output difference against PyG
and against archlab's readable path (``forward_ref``). archlab's forward scales the features by
``d̃^{-1/2}`` per node before the gather and after the scatter instead of per edge (``archlab.gnn.gcn``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from archlab.bench.harness import BenchResult, compare
from archlab.bench.registry import benchmark
from archlab.errors import UserError


@dataclass(frozen=True)
class GCNBenchConfig:
    nodes: int
    edges: int
    features: int


CONFIGS = {"default": GCNBenchConfig(nodes=100_000, edges=1_000_000, features=64),
           "tiny": GCNBenchConfig(nodes=200, edges=1000, features=8)}


def _forward_backward(layer, x: torch.Tensor, edge_index: torch.Tensor):
    def step() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x, edge_index).sum().backward()

    return step


@benchmark(
    "gnn-gcn",
    description="GCN layer forward (100k nodes, 1M random edges, 64 -> 64, fp32) vs torch_geometric GCNConv; "
    "forward + backward in extra",
    target=1.0,
)
def gnn_gcn(*, device: str = "cpu", repeats: int | None = None, size: str = "default", seed: int = 0) -> BenchResult:
    try:
        from torch_geometric.nn import GCNConv as PyGGCNConv
    except ImportError:
        raise UserError("the gnn-gcn benchmark needs torch_geometric as its peer: "
                        "pip install torch_geometric") from None
    from archlab.interop import from_pyg

    cfg = CONFIGS[size]
    repeats = repeats or (5 if size == "default" else 2)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    peer = PyGGCNConv(cfg.features, cfg.features).to(device)
    with torch.no_grad():
        peer.bias.normal_(generator=generator)
    layer = from_pyg(peer).to(device)
    x = torch.randn(cfg.nodes, cfg.features, generator=generator).to(device)
    edge_index = torch.randint(0, cfg.nodes, (2, cfg.edges), generator=generator).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else None
    common = dict(repeats=repeats, sync=sync, work=cfg.edges, unit="edges", device=device)

    with torch.no_grad():
        ours, theirs = layer(x, edge_index), peer(x, edge_index)
        max_difference = float((ours - theirs).abs().max())
        ref_difference = float((ours - layer.forward_ref(x, edge_index)).abs().max())
        del ours, theirs
        result = compare("gnn-gcn", lambda: layer(x, edge_index), lambda: peer(x, edge_index),
                         peer="torch_geometric GCNConv", **common)
    x_grad = x.clone().requires_grad_(True)
    backward = compare("gnn-gcn-backward", _forward_backward(layer, x_grad, edge_index),
                       _forward_backward(peer, x_grad, edge_index), peer="torch_geometric GCNConv", **common)
    result.config = {**asdict(cfg), "dtype": "float32", "threads": torch.get_num_threads(), "cached": False}
    result.extra = {
        "max_abs_difference": max_difference,
        "max_abs_difference_vs_forward_ref": ref_difference,
        "forward_backward_speedup": backward.speedup,
        "forward_backward_seconds": {"archlab": backward.archlab_median, "torch_geometric": backward.peer_median},
    }
    return result
