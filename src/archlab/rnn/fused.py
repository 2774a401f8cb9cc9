"""The fast LSTM recurrence: a whole sequence in one autograd node, with the backward written out by hand.

The readable path (``RecurrentLayer`` with ``path="stepwise"``) calls ``LSTMCell.recur`` once per step and lets
autograd record about ten nodes per step. This path computes the same function (Hochreiter and Schmidhuber
1997, with the forget gate of Gers et al. 2000; symbols as in ``archlab.rnn.cells``) with less work per step:

- the input terms ``W_ih x_t + b`` of every step are one matmul over the whole sequence, (B, L, 4H), and their
  gradients three matmuls after the backward loop; the states are kept time-major (L+1, B, H);
- the gate blocks are reordered (o, i, f, g) (torch stores (i, f, g, o)), so that per step one ``addmm`` gives
  all four pre-activations, one ``sigmoid`` covers o, i, f and one ``tanh`` covers g; the step writes into
  preallocated buffers without autograd, 7 kernels a step;
- the backward (backpropagation through time) precomputes, for all steps at once, every factor that does not
  depend on the incoming gradient, leaving 5 elementwise kernels and one matmul per step; the recurrent weight's
  gradient is then one (4H, L*B) @ (L*B, H) matmul instead of L small ones.

With ``s' = s (1 - s)`` and ``tanh' = 1 - tanh^2``, step t going back (``dh``, ``dc`` the gradients reaching
``h_t``, ``c_t``)::

    dh_t      = dy_t + W_hh^T da_{t+1}                   (da the gradient of the pre-activations)
    dc_t      = dc_{t+1} f_{t+1} + dh_t o_t tanh'(c_t)
    da_o      = dh_t tanh(c_t) s'(o)       da_i = dc_t g_t s'(i)
    da_f      = dc_t c_{t-1} s'(f)         da_g = dc_t i_t tanh'(g)
    dW_hh     = sum_t da_t^T h_{t-1}       dh_0 = W_hh^T da_1,  dc_0 = dc_1 f_1

In float32 on CPU the forward's time loop itself runs compiled (``archlab.rnn.lstm_kernel.sequence_for``, with
MKL's packed GEMM); elsewhere the loop is Python, each step an ``addmm`` and the compiled pointwise step (or
PyTorch ops). ``lstm_sequence`` is the entry point; the layer's stepwise path is its reference and a test holds
them equal.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from archlab.core.blas import packed_sgemm
from archlab.rnn import lstm_kernel
from archlab.rnn.cells import LSTMCell


def gate_order(hidden: int, device: torch.device) -> Tensor:
    """Row indices taking torch's gate blocks (i, f, g, o) to this path's (o, i, f, g): (4H,)."""
    blocks = torch.arange(4 * hidden, device=device).view(4, hidden)  # (4, H)
    return blocks[[3, 0, 1, 2]].reshape(-1)


def _steps_forward(gates: Tensor, h: Tensor, c: Tensor, tanh_c: Tensor, w_hh: Tensor) -> None:
    """The forward recurrence as PyTorch ops, filling ``h[1:]``, ``c[1:]``, ``tanh_c`` (time-major) and turning
    ``gates`` (B, L, 4H) from input terms into activations."""
    hidden = w_hh.shape[1]
    w_t = w_hh.t()  # (H, 4H)
    for t in range(gates.shape[1]):
        g_t = gates[:, t].addmm_(h[t], w_t)  # (B, 4H), rows L * 4H apart
        g_t[:, : 3 * hidden].sigmoid_()
        g_t[:, 3 * hidden:].tanh_()
        o, i, f, g = g_t.split(hidden, dim=1)  # 4 x (B, H)
        torch.mul(f, c[t], out=c[t + 1])
        c[t + 1].addcmul_(i, g)
        torch.tanh(c[t + 1], out=tanh_c[t])
        torch.mul(o, tanh_c[t], out=h[t + 1])


def _steps_forward_kernel(step, gates: Tensor, h: Tensor, c: Tensor, tanh_c: Tensor, w_hh: Tensor) -> None:
    """``_steps_forward`` with the pointwise part of each step in the compiled ``step`` (``archlab.rnn.lstm_kernel``);
    every tensor is contiguous, so step t's rows start at a fixed offset from the first."""
    batch, length, four_h = gates.shape
    hidden = four_h // 4
    w_t = w_hh.t()  # (H, 4H)
    gate_bytes, state_bytes = four_h * gates.element_size(), batch * hidden * gates.element_size()
    threads = max(1, min(torch.get_num_threads(), batch))  # the kernel splits the batch rows among them
    g_ptr, h_ptr, c_ptr, t_ptr = gates.data_ptr(), h.data_ptr(), c.data_ptr(), tanh_c.data_ptr()
    for t in range(length):
        gates[:, t].addmm_(h[t], w_t)  # (B, 4H), rows L * 4H apart
        step(g_ptr + t * gate_bytes, c_ptr + t * state_bytes, c_ptr + (t + 1) * state_bytes,
             t_ptr + t * state_bytes, h_ptr + (t + 1) * state_bytes, batch, hidden, length * four_h, threads)


def _sequence_forward(sequence, gates: Tensor, h: Tensor, c: Tensor, tanh_c: Tensor, w_hh: Tensor) -> None:
    """``_steps_forward`` as one call of the compiled ``sequence`` (``archlab.rnn.lstm_kernel.sequence_for``), the
    recurrent weight packed once for MKL's GEMM (``archlab.core.blas``)."""
    batch, length, four_h = gates.shape
    blas = packed_sgemm()
    packed = blas.pack(w_hh)  # (4H, H); kept alive until the call returns
    threads = max(1, min(torch.get_num_threads(), batch))  # each thread owns a slice of the batch rows
    sequence(blas.compute_address, packed.data_ptr(), gates.data_ptr(), h.data_ptr(), c.data_ptr(), tanh_c.data_ptr(),
             batch, length, four_h // 4, threads)


def _steps_backward(grad_h: Tensor, dc: Tensor, gates: Tensor, c: Tensor, tanh_c: Tensor, w_hh: Tensor
                    ) -> tuple[Tensor, Tensor]:
    """Backpropagation through the steps as PyTorch ops: the pre-activation gradients (B, L, 4H) and the gradient
    reaching c_0. ``grad_h`` (L+1, B, H) holds the gradients reaching each h from outside the recurrence."""
    gates = gates.transpose(0, 1)  # (B, L, 4H) -> (L, B, 4H)
    length, batch, four_h = gates.shape
    hidden = four_h // 4
    o, i, f, g = gates.split(hidden, dim=2)  # 4 x (L, B, H)
    # every factor that does not depend on the incoming gradient, for all steps at once
    dtanh_c = 1 - tanh_c * tanh_c  # (L, B, H)
    o_dtanh_c = o * dtanh_c  # dc_t += dh_t * this
    tanh_c_ds_o = tanh_c * o * (1 - o)  # da_o = dh_t * this
    dc_factor = torch.cat((g * i * (1 - i), c[:-1] * f * (1 - f), i * (1 - g * g)), dim=2)  # (L, B, 3H)
    dc_factor = dc_factor.view(length, batch, 3, hidden)  # da_(i, f, g) = dc_t * this
    grad_a = gates.new_empty(gates.shape)  # (L, B, 4H), contiguous
    grad_a_ifg = grad_a[:, :, hidden:].view(length, batch, 3, hidden)
    dh = grad_h[length]
    for t in range(length - 1, -1, -1):
        if t < length - 1:
            dh = torch.addmm(grad_h[t + 1], grad_a[t + 1], w_hh)  # (B, H)
        dc = torch.addcmul(dc, dh, o_dtanh_c[t])
        torch.mul(dh, tanh_c_ds_o[t], out=grad_a[t, :, :hidden])
        torch.mul(dc.unsqueeze(1), dc_factor[t], out=grad_a_ifg[t])
        dc = dc * f[t]
    return grad_a.transpose(0, 1).contiguous(), dc  # (B, L, 4H)


def _steps_backward_kernel(step, grad_h: Tensor, dc: Tensor, gates: Tensor, c: Tensor, tanh_c: Tensor,
                           w_hh: Tensor) -> tuple[Tensor, Tensor]:
    """``_steps_backward`` with the pointwise part of each step in the compiled ``step``."""
    batch, length, four_h = gates.shape
    hidden = four_h // 4
    grad_a = torch.empty_like(gates)  # (B, L, 4H)
    dc = dc.contiguous().clone()  # (B, H), updated in place step by step
    dh = torch.empty_like(dc)  # (B, H)
    gate_bytes, state_bytes = four_h * gates.element_size(), batch * hidden * gates.element_size()
    a_ptr, g_ptr, c_ptr, t_ptr = grad_a.data_ptr(), gates.data_ptr(), c.data_ptr(), tanh_c.data_ptr()
    threads = max(1, min(torch.get_num_threads(), batch))
    for t in range(length - 1, -1, -1):
        if t < length - 1:
            torch.addmm(grad_h[t + 1], grad_a[:, t + 1], w_hh, out=dh)  # (B, H)
        else:
            dh.copy_(grad_h[length])
        step(a_ptr + t * gate_bytes, dh.data_ptr(), dc.data_ptr(), g_ptr + t * gate_bytes, c_ptr + t * state_bytes,
             t_ptr + t * state_bytes, batch, hidden, length * four_h, threads)
    return grad_a, dc


class _LSTMRecurrence(torch.autograd.Function):
    """``(x, w_ih, bias, h0, c0, w_hh) -> (h (L+1, B, H), c_L)``: the LSTM over ``x`` (B, L, I) from ``h0``,
    ``c0`` (B, H), with ``w_ih`` (4H, I), ``bias`` (4H,) or None and ``w_hh`` (4H, H) in gate order (o, i, f, g).
    ``h[0]`` is h0. The pointwise part of each step runs in ``archlab.rnn.lstm_kernel`` where it is built."""

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, bias: Optional[Tensor], h0: Tensor, c0: Tensor, w_hh: Tensor
                ) -> tuple[Tensor, Tensor]:
        batch, length, _ = x.shape
        hidden = w_hh.shape[1]
        # (B, L, 4H): the input terms of every step in one matmul, turned into s(o), s(i), s(f), tanh(g) step by step
        gates = F.linear(x, w_ih, bias)
        h = x.new_empty(length + 1, batch, hidden)  # (L+1, B, H); h[t+1] is h after step t
        c = x.new_empty(length + 1, batch, hidden)  # (L+1, B, H)
        tanh_c = x.new_empty(length, batch, hidden)  # (L, B, H)
        h[0], c[0] = h0, c0
        ctx.kernels = lstm_kernel.kernels_for(x)
        sequence = lstm_kernel.sequence_for(x) if ctx.kernels is not None else None
        if sequence is not None:
            _sequence_forward(sequence, gates, h, c, tanh_c, w_hh)
        elif ctx.kernels is not None:
            _steps_forward_kernel(ctx.kernels[0], gates, h, c, tanh_c, w_hh)
        else:
            _steps_forward(gates, h, c, tanh_c, w_hh)
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, w_ih, gates, h, c, tanh_c, w_hh)
        return h, c[length].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h: Tensor, grad_c_last: Tensor) -> tuple[Optional[Tensor], ...]:
        x, w_ih, gates, h, c, tanh_c, w_hh = ctx.saved_tensors
        four_h, hidden = w_hh.shape
        if ctx.kernels is None:
            grad_a, dc = _steps_backward(grad_h, grad_c_last, gates, c, tanh_c, w_hh)
        else:
            grad_a, dc = _steps_backward_kernel(ctx.kernels[1], grad_h, grad_c_last, gates, c, tanh_c, w_hh)
        grad_h0 = torch.addmm(grad_h[0], grad_a[:, 0], w_hh)  # (B, H)
        grad_a_rows = grad_a.view(-1, four_h)  # (B*L, 4H)
        h_prev = h[:-1].transpose(0, 1).reshape(-1, hidden)  # (L, B, H) -> (B*L, H)
        grad_w_hh = grad_a_rows.t() @ h_prev  # (4H, B*L) @ (B*L, H) -> (4H, H)
        grad_w_ih = grad_a_rows.t() @ x.reshape(-1, x.shape[2])  # (4H, B*L) @ (B*L, I) -> (4H, I)
        grad_bias = grad_a_rows.sum(0) if ctx.has_bias else None  # (4H,)
        grad_x = grad_a @ w_ih  # (B, L, 4H) @ (4H, I) -> (B, L, I)
        return grad_x, grad_w_ih, grad_bias, grad_h0, dc, grad_w_hh


def lstm_sequence(cell: LSTMCell, x: Tensor, state: tuple[Tensor, Tensor], *, reverse: bool = False
                  ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """``cell`` over ``x`` (B, L, I) from ``state`` (h, c), each (B, H): outputs (B, L, H) and the final state.

    The same function as stepping ``cell`` through the sequence (backwards in time when ``reverse``); under
    autocast the recurrence runs in the dtype of the input terms.
    """
    order = gate_order(cell.hidden_size, x.device)
    x = (x.flip(1) if reverse else x).contiguous()  # (B, L, I), contiguous: the projection is one matmul
    dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    bias = None if cell.bias_ih is None else (cell.bias_ih + cell.bias_hh)[order].to(dtype)  # (4H,)
    h0, c0 = (s.to(dtype) for s in state)
    weights = (cell.weight_ih[order].to(dtype), cell.weight_hh[order].to(dtype))  # (4H, I), (4H, H)
    with torch.autocast(x.device.type, enabled=False):
        h, c_last = _LSTMRecurrence.apply(x.to(dtype), weights[0], bias, h0, c0, weights[1])  # (L+1, B, H)
    out = h[1:]  # (L, B, H)
    if reverse:
        out = out.flip(0)
    return out.transpose(0, 1), (h[-1], c_last)  # (B, L, H)
