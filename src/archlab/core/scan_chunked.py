"""The selective scan's recurrence as a chunked scan in plain PyTorch: the fast path on devices with no kernel.

This is the chunked algorithm of Mamba-2's state space duality (Dao and Gu 2024, "Transformers are SSMs",
Sec. 6 and Listing 1, "SSD minimal"), adapted to Mamba-1's diagonal ``A``. In SSD the decay is one scalar
per head, so a chunk's decays form one (Q, Q) matrix; here the decay ``exp(delta_t A)`` differs per channel
and per state entry, so the matrix is (Q, Q) for every (batch, channel, state entry).

The sequence is cut into chunks of ``Q`` steps. With the log-decays ``a_t = delta_t A`` (one per channel and
state entry) and their cumulative sums ``S_t = a_1 + ... + a_t`` inside a chunk, the state is

    h_t = sum_{s <= t} exp(S_t - S_s) delta_s B_s u_s + exp(S_t) h_0          (h_0: the state entering the chunk)

so a chunk's outputs ``y_t = <C_t, h_t>`` are a masked matmul-style contraction over ``s`` and the state
entries (the "diagonal block" of SSD), plus the entering state's contribution (the "off-diagonal" term).
The state is carried from chunk to chunk by a short loop over the ``L / Q`` chunks. Each step costs
O(B D N Q^2) and holds one chunk's (B, Q, Q, D, N) decays besides the (B, L, D, N) terms computed before
the loop (autograd keeps every chunk's decays: O(B D L N Q) memory in training). The arithmetic is Q times
the loop over time's, so on CPU the loop (or the compiled kernel) is faster; the chunks pay where many
small sequential steps cost more than parallel work, as on a GPU.

Numerical stability: for ``t >= s``, ``exp(S_t - S_s)`` is a product of decays, at most 1 for a stable
``A``. As in the paper's ``segsum``, the log-decays are masked *before* the sum and ``exp``: a segment
sum ``S_t - S_s`` adds only the ``a_k`` with ``s < k <= t``, so no gradient is a difference of large
terms that cancel, and above the diagonal (``t < s``, where ``exp(S_t - S_s)`` would overflow for
strongly decaying channels) it is an empty sum, ``exp(0) = 1``, whose weight ``C_t B_s`` is masked to 0;
those entries contribute nothing, and no gradient, to outputs or states.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Steps per chunk. Work per step grows with it and the loop shortens: on a GPU, where each loop step is a dozen
# kernel launches, a longer chunk should pay (not measured: no GPU here); on CPU a shorter one does (ssm-scan
# configuration, one thread, forward: 6.5 s at 8, 12 s at 16), but there the loop over time (1.7 s) and the
# compiled kernel (0.23 s) are faster still.
CHUNK_SIZE = 16


def segment_sum_matrix(q: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(Q_t * Q_s, Q_k): 1 where ``s < k <= t``, so that ``matrix @ a`` holds every segment sum ``a_{s+1} + ... + a_t``.

    This is the paper's masked ``segsum`` as one matrix product: forward and backward are dense matmuls
    rather than a cumulative sum, whose backward (a reversed cumulative sum) is slow on strided tensors.
    """
    t, s, k = (torch.arange(q, device=device).view(shape) for shape in ((q, 1, 1), (1, q, 1), (1, 1, q)))
    return ((s < k) & (k <= t)).to(dtype).view(q * q, q)  # (Q_t, Q_s, Q_k) -> (Q_t * Q_s, Q_k)


def decays_within_chunk(log_decay: Tensor, segments: Tensor) -> Tensor:
    """``out[:, t, s] = exp(a_{s+1} + ... + a_t) = exp(S_t - S_s)`` for ``t >= s``, and 1 above the diagonal.

    ``log_decay``: (B, Q, D, N) holding ``a_1 .. a_Q`` along dim 1; ``segments``: :func:`segment_sum_matrix`;
    returns (B, Q_t, Q_s, D, N). As in the paper's ``segsum``, the ``a_k`` are masked before the sum and
    ``exp``: each segment sum adds only the ``a_k`` with ``s < k <= t`` (never a difference of two cumulative
    sums, whose gradients would cancel to round-off), so above the diagonal it is an empty sum, 0, and
    nothing overflows. Callers zero those entries' weights.
    """
    batch, q = log_decay.shape[:2]
    sums = segments @ log_decay.flatten(2)  # (Q_t * Q_s, Q) @ (B, Q, D * N) -> (B, Q_t * Q_s, D * N)
    return sums.view(batch, q, q, *log_decay.shape[2:]).exp_()  # (B, Q_t, Q_s, D, N)


def chunked_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, *, chunk_size: int = CHUNK_SIZE) -> tuple[Tensor, Tensor]:
    """The recurrence ``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``, ``y_t = <C_t, h_t>`` from ``h_0 = 0``.

    ``u``, ``delta`` (already biased and softplus-ed): (B, D, L); ``A``: (D, N); ``B``, ``C``: (B, N, L).
    Returns ``y`` (B, D, L) and the last state (B, D, N), in the inputs' dtype; half-precision inputs are
    computed in float32. Differentiable through autograd. Inside, time comes before channels, so that every
    chunk's (Q, Q) pairs index contiguous (D, N) blocks; what needs no (Q, Q) pairs is computed for all
    chunks before the loop.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be at least 1")
    out_dtype = u.dtype
    dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    batch, dim, length = u.shape
    q = min(chunk_size, max(length, 1))
    pad = -length % q
    n_chunks = (length + pad) // q
    # Padded steps have delta = 0: decay exp(0) = 1 and input 0, so they leave the state as it was.
    u, delta, B, C = (F.pad(t, (0, pad)).transpose(1, 2) for t in (u, delta, B, C))  # (B, *, L) -> (B, L', *)
    x = (delta * u).view(batch, n_chunks, q, dim)  # (B, L', D) -> (B, c, Q, D): delta_s u_s
    B, C = B.reshape(batch, n_chunks, q, -1), C.reshape(batch, n_chunks, q, -1)  # (B, L', N) -> (B, c, Q, N)
    log_decay = delta.reshape(batch, n_chunks, q, dim, 1) * A  # (B, c, Q, D, 1) * (D, N) -> (B, c, Q, D, N)
    lower = torch.ones(q, q, dtype=dtype, device=u.device).tril()  # (Q_t, Q_s): 1 where s <= t
    decay_from_start = (lower @ log_decay.flatten(3)).view_as(log_decay).exp()  # (Q, Q) @ (B, c, Q, D * N) -> (B, c, Q, D, N): exp(S_t)
    segments = segment_sum_matrix(q, dtype, u.device)  # (Q_t * Q_s, Q)
    lower = lower[:, :, None, None]  # (Q_t, Q_s) -> (Q_t, Q_s, 1, 1)
    # C_t B_s for s <= t only: the weight of step s in output t (zero above the diagonal, where decays are 1)
    CB = C[:, :, :, None, :, None] * B[:, :, None, :, :, None] * lower  # (B, c, Q_t, 1, N, 1) * (B, c, 1, Q_s, N, 1) * (Q_t, Q_s, 1, 1) -> (B, c, Q_t, Q_s, N, 1)
    inputs = x[..., None] * B[:, :, :, None, :]  # (B, c, Q, D, 1) * (B, c, Q, 1, N) -> (B, c, Q, D, N): B_s x_s
    h = u.new_zeros(batch, dim, A.shape[1])  # (B, D, N): the state entering the chunk
    ys = []
    # One view per chunk, split once: the backward of unbind stacks the chunks' gradients in one step, where
    # indexing chunk c would add a whole-sequence gradient tensor per chunk.
    per_chunk = zip(*(t.unbind(1) for t in (log_decay, CB, x, decay_from_start, C, inputs)))
    for log_decay_c, CB_c, x_c, decay_from_start_c, C_c, inputs_c in per_chunk:
        decay = decays_within_chunk(log_decay_c, segments)  # (B, Q_t, Q_s, D, N): exp(S_t - S_s)
        # Diagonal block: y_t = sum_s x_s sum_n exp(S_t - S_s)[n] C_t[n] B_s[n]
        weights = (decay @ CB_c).squeeze(-1)  # (B, Q_t, Q_s, D, N) @ (B, Q_t, Q_s, N, 1) -> (B, Q_t, Q_s, D)
        y = (weights * x_c[:, None]).sum(dim=2)  # (B, Q_t, Q_s, D) * (B, 1, Q_s, D) -> (B, Q, D)
        # Entering state: y_t += sum_n exp(S_t)[n] h_0[n] C_t[n]
        y = y + ((decay_from_start_c * h[:, None]) @ C_c[..., None]).squeeze(-1)  # (B, Q, D, N) @ (B, Q, N, 1) -> (B, Q, D)
        ys.append(y)
        # State leaving the chunk: h = exp(S_Q) h_0 + sum_s exp(S_Q - S_s) B_s x_s (decay's last row)
        h = decay_from_start_c[:, -1] * h + (decay[:, -1] * inputs_c).sum(dim=1)  # (B, D, N)
    y = torch.cat(ys, dim=1)[:, :length].transpose(1, 2)  # c x (B, Q, D) -> (B, L, D) -> (B, D, L)
    return y.to(out_dtype), h.to(out_dtype)
