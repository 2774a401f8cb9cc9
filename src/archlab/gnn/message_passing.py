"""The message-passing base: ``message`` / ``aggregate`` / ``update`` driven by ``propagate(edge_index, ...)``.

Gilmer et al. 2017 (Neural Message Passing for Quantum Chemistry), eqs. 1-2, in the form PyTorch Geometric
popularised (Fey & Lenssen 2019): for every edge ``j -> i`` of ``edge_index`` (row 0 the source ``j``, row 1
the target ``i``), a message ``m_ij = message(x_i, x_j, e_ij)``; each target node aggregates its incoming
messages with a permutation-invariant reduction ``a_i = aggregate({m_ij : j -> i})``; and ``update(a_i, x_i)``
gives the node's new state. Isolated nodes aggregate nothing, which reads as 0.

``propagate`` writes the gathers out: for each per-node tensor ``name`` passed to it, ``message`` may take
``name_j`` (the value at the edge's source, ``name.index_select(0, source)``) and ``name_i`` (the value at the
edge's target); per-edge tensors (names starting with ``edge_``) reach ``message`` as they are. A layer's
``message`` declares in its signature which of these it needs, and only those are gathered.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any, Optional

from torch import Tensor, nn

from archlab.core.scatter import scatter
from archlab.core.validation import check_choices

AGGREGATIONS = ("sum", "mean", "max")


@lru_cache(maxsize=None)
def _message_arguments(cls: type) -> tuple[str, ...]:
    return tuple(inspect.signature(cls.message).parameters)[1:]  # without self


def check_edge_index(edge_index: Tensor, num_nodes: int) -> None:
    """``edge_index`` must be an integer ``(2, E)`` tensor whose entries lie in ``[0, num_nodes)``."""
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index of shape {tuple(edge_index.shape)} must be (2, E): sources, then targets")
    if edge_index.is_floating_point():
        raise ValueError(f"edge_index of dtype {edge_index.dtype} must hold integers")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(f"edge_index holds node ids in [{int(edge_index.min())}, {int(edge_index.max())}], "
                         f"outside the {num_nodes} nodes [0, {num_nodes})")


class MessagePassing(nn.Module):
    """Base class of the graph layers. Subclasses set ``aggr`` and define ``message`` (and ``update`` when
    the new state is more than the aggregate)."""

    def __init__(self, *, aggr: str = "sum") -> None:
        super().__init__()
        check_choices({"aggr": aggr}, {"aggr": AGGREGATIONS}, quote=True)
        self.aggr = aggr

    def propagate(self, edge_index: Tensor, *, num_nodes: Optional[int] = None, **inputs: Any) -> Tensor:
        """``update(aggregate(message(...)), ...)`` over the edges ``edge_index`` ``(2, E)``; ``inputs`` are
        per-node tensors ``(N, ...)`` and per-edge tensors ``edge_*`` ``(E, ...)``. Returns ``(N, ...)``."""
        source, target = edge_index[0], edge_index[1]  # (E,) each: messages flow source -> target
        if num_nodes is None:
            num_nodes = next(v.shape[0] for k, v in inputs.items() if not k.startswith("edge_"))
        arguments = {}
        for name in _message_arguments(type(self)):
            if name in inputs:
                arguments[name] = inputs[name]
            elif name.endswith("_j"):
                arguments[name] = inputs[name[:-2]].index_select(0, source)  # (E, ...): the sender's value
            elif name.endswith("_i"):
                arguments[name] = inputs[name[:-2]].index_select(0, target)  # (E, ...): the receiver's value
            elif name == "index":
                arguments[name] = target
            else:
                raise TypeError(f"{type(self).__name__}.message takes {name!r}, which propagate was not given")
        messages = self.message(**arguments)  # (E, ...)
        return self.update(self.aggregate(messages, target, num_nodes), **inputs)

    def message(self, x_j: Tensor) -> Tensor:
        """The message of each edge; by default the source node's value."""
        return x_j

    def aggregate(self, messages: Tensor, index: Tensor, num_nodes: int) -> Tensor:
        """Reduce the messages ``(E, ...)`` arriving at each target ``index`` ``(E,)`` into ``(N, ...)``."""
        return scatter(messages, index, num_nodes, reduce=self.aggr)

    def update(self, aggregated: Tensor, **inputs: Any) -> Tensor:
        """The new node states from the aggregate; by default the aggregate itself."""
        return aggregated
