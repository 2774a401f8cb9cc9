"""The fast GRU recurrence: a whole sequence in one autograd node, with the backward written out by hand.

The readable path (``RecurrentLayer`` with ``path="stepwise"``) calls ``GRUCell.recur`` once per step and lets
autograd record about a dozen nodes per step. This path computes the same function (Cho et al. 2014, in torch's
form where the reset gate multiplies ``W_hn h + b_hn`` after the matmul; symbols as in ``archlab.rnn.cells``)
with less work per step, as ``archlab.rnn.fused`` does for the LSTM:

- the input terms ``gi = W_ih x + b`` of every step are one matmul over the whole sequence, (B, L, 3H), and
  their gradients three matmuls after the backward loop; the states are kept time-major (L+1, B, H);
- per step one ``addmm`` gives the recurrent terms ``gh = W_hh h + b_h`` of all three gates, (B, 3H); the gate
  blocks stay in torch's order (r, z, n), r and z adjacent for one ``sigmoid``; the step writes into
  preallocated buffers without autograd;
- the backward (backpropagation through time) precomputes, for all steps at once, every factor that does not
  depend on the incoming gradient; the recurrent weight's gradient is one (3H, L*B) @ (L*B, H) matmul.

With ``s' = s (1 - s)`` and ``tanh' = 1 - tanh^2``, step t (``h' = n + z (h - n)``) going back, ``dh`` the
gradient reaching ``h'`` and ``g_h`` the gradient reaching ``h`` from outside the recurrence::

    da_n = dh (1 - z) tanh'(n)        da_z = dh (h - n) s'(z)        da_r = da_n gh_n s'(r)
    dgi  = (da_r, da_z, da_n)         dgh  = (da_r, da_z, da_n r)
    dh_prev = g_h + dh z + dgh W_hh   dW_hh = sum_t dgh_t^T h_{t-1}

The bias ``b_h`` is ``(0, 0, b_hn)`` from a cell (``b_hr``, ``b_hz`` join the input terms), but the node takes
any (3H,). ``gru_sequence`` is the entry point; the layer's stepwise path is its reference and a test holds them
equal.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from archlab.rnn import gru_kernel
from archlab.rnn.cells import GRUCell


def _recurrent_terms(out: Tensor, h: Tensor, w_t: Tensor, bias_h: Optional[Tensor]) -> None:
    """``out`` (B, 3H) = ``h`` (B, H) @ ``w_t`` (H, 3H) + ``bias_h``."""
    if bias_h is None:
        torch.mm(h, w_t, out=out)
    else:
        torch.addmm(bias_h, h, w_t, out=out)


def _steps_forward(gates: Tensor, h: Tensor, gh_n: Tensor, w_hh: Tensor, bias_h: Optional[Tensor]) -> None:
    """The forward recurrence as PyTorch ops, filling ``h[1:]`` and ``gh_n`` (time-major) and turning ``gates``
    (B, L, 3H) from input terms into activations (r, z, n)."""
    hidden = w_hh.shape[1]
    w_t = w_hh.t()  # (H, 3H)
    gh = h.new_empty(h.shape[1], 3 * hidden)  # (B, 3H)
    for t in range(gates.shape[1]):
        _recurrent_terms(gh, h[t], w_t, bias_h)
        g_t = gates[:, t]  # (B, 3H), rows L * 3H apart
        g_t[:, : 2 * hidden].add_(gh[:, : 2 * hidden]).sigmoid_()
        r, z, n = g_t.split(hidden, dim=1)  # 3 x (B, H)
        gh_n[t].copy_(gh[:, 2 * hidden:])
        n.addcmul_(r, gh_n[t]).tanh_()
        torch.sub(h[t], n, out=h[t + 1])
        h[t + 1].mul_(z).add_(n)


def _steps_forward_kernel(step, gates: Tensor, h: Tensor, gh_n: Tensor, w_hh: Tensor, bias_h: Optional[Tensor]
                          ) -> None:
    """``_steps_forward`` with the pointwise part of each step in the compiled ``step`` (``archlab.rnn.gru_kernel``);
    every tensor is contiguous, so step t's rows start at a fixed offset from the first."""
    batch, length, three_h = gates.shape
    hidden = three_h // 3
    w_t = w_hh.t()  # (H, 3H)
    gh = h.new_empty(batch, three_h)  # (B, 3H)
    gate_bytes, state_bytes = three_h * gates.element_size(), batch * hidden * gates.element_size()
    g_ptr, h_ptr, n_ptr = gates.data_ptr(), h.data_ptr(), gh_n.data_ptr()
    threads = max(1, min(torch.get_num_threads(), batch))  # the kernel splits the batch rows among them
    for t in range(length):
        _recurrent_terms(gh, h[t], w_t, bias_h)
        step(g_ptr + t * gate_bytes, gh.data_ptr(), h_ptr + t * state_bytes, n_ptr + t * state_bytes,
             h_ptr + (t + 1) * state_bytes, batch, hidden, length * three_h, threads)


def _steps_backward(grad_h: Tensor, gates: Tensor, h: Tensor, gh_n: Tensor, w_hh: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """Backpropagation through the steps as PyTorch ops: the gradients of the input terms and of the recurrent
    terms, each (B, L, 3H), and the part of the gradient reaching h_0 that skips its matmul, ``g_h0 + dh_1 z_1``.
    ``grad_h`` (L+1, B, H) holds the gradients reaching each h from outside the recurrence."""
    gates = gates.transpose(0, 1)  # (B, L, 3H) -> (L, B, 3H)
    length, batch, three_h = gates.shape
    hidden = three_h // 3
    r, z, n = gates.split(hidden, dim=2)  # 3 x (L, B, H)
    # every factor that does not depend on the incoming gradient, for all steps at once
    dn = (1 - z) * (1 - n * n)  # da_n = dh * this
    factors = torch.cat((dn * gh_n * r * (1 - r), (h[:-1] - n) * z * (1 - z), dn), dim=2)  # (L, B, 3H)
    factors = factors.view(length, batch, 3, hidden)  # dgi = dh * this
    grad_gi = gates.new_empty(gates.shape)  # (L, B, 3H), contiguous
    grad_gh = gates.new_empty(gates.shape)  # (L, B, 3H)
    dh = grad_h[length]
    for t in range(length - 1, -1, -1):
        if t < length - 1:
            dh = torch.addmm(torch.addcmul(grad_h[t + 1], dh, z[t + 1]), grad_gh[t + 1], w_hh)  # (B, H)
        torch.mul(dh.unsqueeze(1), factors[t], out=grad_gi[t].view(batch, 3, hidden))
        grad_gh[t, :, : 2 * hidden] = grad_gi[t, :, : 2 * hidden]
        torch.mul(grad_gi[t, :, 2 * hidden:], r[t], out=grad_gh[t, :, 2 * hidden:])
    carry = torch.addcmul(grad_h[0], dh, z[0])  # (B, H)
    return grad_gi.transpose(0, 1).contiguous(), grad_gh.transpose(0, 1).contiguous(), carry  # (B, L, 3H)


def _steps_backward_kernel(step, grad_h: Tensor, gates: Tensor, h: Tensor, gh_n: Tensor, w_hh: Tensor
                           ) -> tuple[Tensor, Tensor, Tensor]:
    """``_steps_backward`` with the pointwise part of each step in the compiled ``step``."""
    batch, length, three_h = gates.shape
    hidden = three_h // 3
    grad_h = grad_h.contiguous()  # (L+1, B, H)
    grad_gi, grad_gh = torch.empty_like(gates), torch.empty_like(gates)  # (B, L, 3H)
    dh, carry = h.new_empty(batch, hidden), h.new_empty(batch, hidden)  # (B, H), rewritten step by step
    gate_bytes, state_bytes = three_h * gates.element_size(), batch * hidden * gates.element_size()
    gi_ptr, gg_ptr, e_ptr = grad_gi.data_ptr(), grad_gh.data_ptr(), grad_h.data_ptr()
    g_ptr, n_ptr, h_ptr = gates.data_ptr(), gh_n.data_ptr(), h.data_ptr()
    threads = max(1, min(torch.get_num_threads(), batch))
    for t in range(length - 1, -1, -1):
        if t < length - 1:
            torch.addmm(carry, grad_gh[:, t + 1], w_hh, out=dh)  # (B, H)
        else:
            dh.copy_(grad_h[length])
        step(gi_ptr + t * gate_bytes, gg_ptr + t * gate_bytes, dh.data_ptr(), e_ptr + t * state_bytes,
             carry.data_ptr(), g_ptr + t * gate_bytes, n_ptr + t * state_bytes, h_ptr + t * state_bytes,
             batch, hidden, length * three_h, threads)
    return grad_gi, grad_gh, carry


class _GRURecurrence(torch.autograd.Function):
    """``(x, w_ih, bias_i, h0, w_hh, bias_h) -> h (L+1, B, H)``: the GRU over ``x`` (B, L, I) from ``h0`` (B, H),
    with ``w_ih`` (3H, I), ``w_hh`` (3H, H) and the biases ``bias_i`` of the input terms and ``bias_h`` of the
    recurrent terms, each (3H,) or None, gate order (r, z, n). ``h[0]`` is h0. The pointwise part of each step runs
    in ``archlab.rnn.gru_kernel`` where it is built."""

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, bias_i: Optional[Tensor], h0: Tensor, w_hh: Tensor,
                bias_h: Optional[Tensor]) -> Tensor:
        batch, length, _ = x.shape
        hidden = w_hh.shape[1]
        # (B, L, 3H): the input terms of every step in one matmul, turned into r, z, n step by step
        gates = F.linear(x, w_ih, bias_i)
        h = x.new_empty(length + 1, batch, hidden)  # (L+1, B, H); h[t+1] is h after step t
        gh_n = x.new_empty(length, batch, hidden)  # (L, B, H): W_hn h_t + b_hn, which r multiplies
        h[0] = h0
        ctx.kernels = gru_kernel.kernels_for(x)
        if ctx.kernels is None:
            _steps_forward(gates, h, gh_n, w_hh, bias_h)
        else:
            _steps_forward_kernel(ctx.kernels[0], gates, h, gh_n, w_hh, bias_h)
        ctx.has_bias = (bias_i is not None, bias_h is not None)
        ctx.save_for_backward(x, w_ih, gates, h, gh_n, w_hh)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h: Tensor) -> tuple[Optional[Tensor], ...]:
        x, w_ih, gates, h, gh_n, w_hh = ctx.saved_tensors
        three_h, hidden = w_hh.shape
        if ctx.kernels is None:
            grad_gi, grad_gh, carry = _steps_backward(grad_h, gates, h, gh_n, w_hh)
        else:
            grad_gi, grad_gh, carry = _steps_backward_kernel(ctx.kernels[1], grad_h, gates, h, gh_n, w_hh)
        grad_h0 = torch.addmm(carry, grad_gh[:, 0], w_hh)  # (B, H)
        rows_i, rows_h = grad_gi.view(-1, three_h), grad_gh.view(-1, three_h)  # 2 x (B*L, 3H)
        h_prev = h[:-1].transpose(0, 1).reshape(-1, hidden)  # (L, B, H) -> (B*L, H)
        grad_w_hh = rows_h.t() @ h_prev  # (3H, B*L) @ (B*L, H) -> (3H, H)
        grad_w_ih = rows_i.t() @ x.reshape(-1, x.shape[2])  # (3H, B*L) @ (B*L, I) -> (3H, I)
        grad_bias_i = rows_i.sum(0) if ctx.has_bias[0] else None  # (3H,)
        grad_bias_h = rows_h.sum(0) if ctx.has_bias[1] else None  # (3H,)
        grad_x = grad_gi @ w_ih  # (B, L, 3H) @ (3H, I) -> (B, L, I)
        return grad_x, grad_w_ih, grad_bias_i, grad_h0, grad_w_hh, grad_bias_h


def gru_sequence(cell: GRUCell, x: Tensor, state: Tensor, *, reverse: bool = False) -> tuple[Tensor, Tensor]:
    """``cell`` over ``x`` (B, L, I) from ``state`` h (B, H): outputs (B, L, H) and the final h (B, H).

    The same function as stepping ``cell`` through the sequence (backwards in time when ``reverse``); under
    autocast the recurrence runs in the dtype of the input terms.
    """
    hidden = cell.hidden_size
    x = (x.flip(1) if reverse else x).contiguous()  # (B, L, I), contiguous: the projection is one matmul
    dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    bias_i = bias_h = None
    if cell.bias_ih is not None:
        # b_hr and b_hz join the input terms; b_hn stays inside r * (W_hn h + b_hn)
        bias_i = torch.cat((cell.bias_ih[: 2 * hidden] + cell.bias_hh[: 2 * hidden], cell.bias_ih[2 * hidden:]))
        bias_h = torch.cat((cell.bias_hh.new_zeros(2 * hidden), cell.bias_hh[2 * hidden:]))  # (3H,)
        bias_i, bias_h = bias_i.to(dtype), bias_h.to(dtype)
    with torch.autocast(x.device.type, enabled=False):
        h = _GRURecurrence.apply(x.to(dtype), cell.weight_ih.to(dtype), bias_i, state.to(dtype),
                                 cell.weight_hh.to(dtype), bias_h)  # (L+1, B, H)
    out = h[1:]  # (L, B, H)
    if reverse:
        out = out.flip(0)
    return out.transpose(0, 1), h[-1]  # (B, L, H)
