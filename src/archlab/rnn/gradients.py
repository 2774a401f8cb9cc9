"""Measurements behind the RNN claims: how the state Jacobian decays with the lag, and how long the chain of
dependent operations of a forward pass is.

``state_jacobian_norms``: for a cell run over ``x`` (T, I) from the zero state, the spectral norm
``||ds_T / ds_k||_2`` for every lag ``T - k`` in ``1..T``, by autograd through the cell. The state ``s`` is h
(Elman, GRU) or the concatenation (h, c) (LSTM). One backward pass gives every Jacobian: the sequence is
repeated along the batch, one copy per state unit ``j``, copy ``j`` backpropagates ``s_T[j]``, and the gradient
it leaves on ``s_k`` (a copy entering step k + 1, so that for the LSTM h_k and c_k are independent
variables) is row ``j`` of ``ds_T / ds_k``. Pascanu et al. (2013, Section 2.1) bound the norm for
``h' = tanh(W h + U x + b)`` by ``(gamma * sigma_max(W)) ** (T - k)`` with ``gamma = 1`` for tanh.

``sequential_depth``: the longest chain of matrix products (matmuls and attention kernels) that depend on
one another in the autograd graph of a tensor. Operations on one chain must run one after the other however
many threads there are; it is the "sequential operations" column of Vaswani et al. (2017, Table 1) counted on
the actual graph: about L for a recurrent layer over L steps, a constant for an attention layer.
"""

from __future__ import annotations

import torch

from archlab.rnn.cells import RecurrentCell

_PRODUCT_NODES = ("Mm", "Bmm", "Addmm", "Matmul", "Attention", "Linear", "Baddbmm")


def state_jacobian_norms(cell: RecurrentCell, x: torch.Tensor) -> torch.Tensor:
    """``||ds_T / ds_k||_2`` for lags ``1..T`` (index ``lag - 1``): (T,). ``x``: (T, I), one sequence."""
    if x.dim() != 2:
        raise ValueError(f"x must be one sequence (length, input_size), got shape {tuple(x.shape)}")
    length = x.shape[0]
    first = cell.init_state(1)
    lstm = isinstance(first, tuple)
    units = 2 * cell.hidden_size if lstm else cell.hidden_size
    x = x.to(cell.weight_hh.dtype)[:, None, :].expand(length, units, x.shape[1])  # (T, S, I): S copies
    state = tuple(s.expand(units, -1).clone().requires_grad_() for s in first) if lstm else \
        first.expand(units, -1).clone().requires_grad_()
    inputs = []  # the state entering step k + 1, its parts as independent variables
    for t in range(length):
        if t > 0:  # a copy per part, so that c_k's gradient excludes the path c_k -> h_k within step k
            state = tuple(p.clone() for p in state) if lstm else state.clone()
            for part in (state if lstm else (state,)):
                part.retain_grad()
        inputs.append(state)
        state = cell(x[t], state)
    final = torch.cat(state, dim=-1) if lstm else state  # (S, S): copy j holds s_T
    final.diagonal().sum().backward()  # copy j backpropagates s_T[j]
    norms = []
    for k in range(length - 1, -1, -1):  # lag 1 .. T
        parts = inputs[k] if lstm else (inputs[k],)
        jacobian = torch.cat([p.grad for p in parts], dim=-1)  # (S, S): rows j of ds_T / ds_k
        norms.append(torch.linalg.matrix_norm(jacobian, ord=2))
    return torch.stack(norms).detach()


def sequential_depth(output: torch.Tensor) -> int:
    """The most matrix products on one dependent chain of ``output``'s autograd graph."""
    if output.grad_fn is None:
        raise ValueError("output has no autograd graph; compute it with requires_grad inputs or parameters")
    depth: dict[torch.autograd.graph.Node, int] = {}
    stack = [(output.grad_fn, False)]
    while stack:
        node, expanded = stack.pop()
        if node in depth:
            continue
        children = [child for child, _ in node.next_functions if child is not None]
        if not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in children if child not in depth)
            continue
        own = int(any(name in type(node).__name__ for name in _PRODUCT_NODES))
        depth[node] = own + max((depth[child] for child in children), default=0)
    return depth[output.grad_fn]
